/* SPDX-License-Identifier: Apache-2.0 */
/* Noticing that files may have changed: inotify on their directories, debounced, with a rescan. */
#ifndef GTW_WATCH_H
#define GTW_WATCH_H

#include <stdint.h>

/* How many files one watch follows; each is a bit in watch_check's answer. */
#define WATCH_MAX_FILES 16

/*
 * Watches the DIRECTORY of each file, not the file: a file replaced by rename (editors,
 * `kubectl cp`), a ConfigMap or Secret volume's `..data` symlink swap, and a write in place all
 * show there. When the file is a symlink, the directory of its target is watched as well, and
 * followed when the target moves. Every file is also reported due at a slow periodic rescan,
 * which covers what inotify cannot see (a symlink chain through other directories, network
 * file systems, inotify itself unavailable). A due file may well be unchanged: the caller
 * compares its content.
 */
struct watch;

/* Returns a new watch that reports a file due debounce_ms after the last event in its
 * directories (at most a second after the first). Free with watch_free. */
struct watch *watch_new(unsigned debounce_ms);

/* Frees w; NULL is a no-op. */
void watch_free(struct watch *w);

/* Follows the file at path (copied). Returns its index, the bit it has in watch_check's answer,
 * or -1 when the watch already follows WATCH_MAX_FILES files. */
int watch_add(struct watch *w, const char *path);

/* Returns the descriptor to poll for reading (inotify's), or -1 when there is none. */
int watch_fd(const struct watch *w);

/* Returns how many milliseconds may pass before watch_check has something to do. */
int watch_timeout(const struct watch *w);

/*
 * Reads the pending events without blocking and returns the files now due, as a mask of
 * (1u << index) bits; 0 when none is. Call when watch_fd is readable or watch_timeout expired.
 */
uint32_t watch_check(struct watch *w);

#endif
