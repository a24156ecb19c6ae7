/* SPDX-License-Identifier: Apache-2.0 */
/* Noticing that files may have changed: inotify on their directories, debounced, with a rescan. */
#include "webhook/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "policy/xalloc.h"
#include "webhook/log.h"

/*
 * Everything that can mean new content: a write in place (MODIFY, CLOSE_WRITE), a file or
 * symlink renamed over another (MOVED_TO, MOVED_FROM), made or removed (CREATE, DELETE), and
 * the directory itself going away (DELETE_SELF, MOVE_SELF; IGNORED follows).
 */
#define WATCH_EVENTS                                                                               \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* A burst of events (a writer that takes its time) is waited out, but not for longer. */
#define WATCH_MAX_DELAY_MS 1000

/* The periodic rescan, and the faster one while some directory could not be watched. */
#define WATCH_RESCAN_MS 10000
#define WATCH_RESCAN_UNWATCHED_MS 2000

/* A file's directory and its target's, and one more for a target being replaced. */
#define WATCH_MAX_DIRS (2 * WATCH_MAX_FILES + 1)

struct watch_dir {
    char *path;       /* NULL: the slot is free */
    int wd;           /* -1: not watched (yet, or any more) */
    unsigned users;   /* files that use this directory */
    int64_t first_ms; /* first and last event not yet reported; 0: none */
    int64_t last_ms;
};

struct watch_file {
    char *path;
    int dir;    /* the directory the path names */
    int target; /* the directory of the symlink's target, or -1 */
};

struct watch {
    int fd;
    unsigned debounce_ms;
    int64_t last_rescan_ms;
    struct watch_dir dirs[WATCH_MAX_DIRS];
    struct watch_file files[WATCH_MAX_FILES];
    unsigned nfiles;
};

static int64_t
watch_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the directory part of path, newly allocated ("." for a bare name). */
static char *
watch_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* ------------------------------------------------------------------------------------------ */
/* Directories                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Starts watching d when it is not watched; a failure leaves it to the rescan. */
static void
watch_dir_arm(struct watch *w, struct watch_dir *d)
{
    if (w->fd < 0 || d->wd >= 0)
        return;
    d->wd = inotify_add_watch(w->fd, d->path, WATCH_EVENTS);
    if (d->wd < 0)
        log_debug("cannot watch directory %s: %s; checking it every %d s", d->path, strerror(errno),
                  WATCH_RESCAN_UNWATCHED_MS / 1000);
}

/* Returns the index of the directory named path, taking a use of it (added when new). */
static int
watch_dir_use(struct watch *w, const char *path)
{
    int free_slot = -1;

    for (int i = 0; i < WATCH_MAX_DIRS; i++) {
        struct watch_dir *d = &w->dirs[i];
        if (d->path != NULL && strcmp(d->path, path) == 0) {
            d->users++;
            return i;
        }
        if (d->path == NULL && free_slot < 0)
            free_slot = i;
    }
    /* Two directories per file at most, and one in passing, so a slot is always free. */
    if (free_slot < 0)
        return -1;
    w->dirs[free_slot] = (struct watch_dir){xstrdup(path), -1, 1, 0, 0};
    watch_dir_arm(w, &w->dirs[free_slot]);
    return free_slot;
}

/* Drops a use of directory i; the last one stops watching it. */
static void
watch_dir_drop(struct watch *w, int i)
{
    struct watch_dir *d;
    bool shared = false;

    if (i < 0)
        return;
    d = &w->dirs[i];
    if (--d->users > 0)
        return;
    /* inotify gives one descriptor per inode: another path may name the same directory. */
    for (int j = 0; j < WATCH_MAX_DIRS; j++)
        shared |= j != i && w->dirs[j].path != NULL && w->dirs[j].wd == d->wd;
    if (d->wd >= 0 && !shared)
        (void)inotify_rm_watch(w->fd, d->wd);
    free(d->path);
    memset(d, 0, sizeof(*d));
    d->wd = -1;
}

/* Notes an event in every directory with descriptor wd (all of them for wd -1: overflow). */
static void
watch_dir_touch(struct watch *w, int wd, bool gone, int64_t now)
{
    for (int i = 0; i < WATCH_MAX_DIRS; i++) {
        struct watch_dir *d = &w->dirs[i];
        if (d->path == NULL || (wd >= 0 && d->wd != wd))
            continue;
        if (d->first_ms == 0)
            d->first_ms = now;
        d->last_ms = now;
        if (gone)
            d->wd = -1;
    }
}

/* True when directory d had events and they have settled (or waited long enough). */
static bool
watch_dir_due(const struct watch *w, const struct watch_dir *d, int64_t now)
{
    return d->first_ms != 0 &&
           (now >= d->last_ms + w->debounce_ms || now >= d->first_ms + WATCH_MAX_DELAY_MS);
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Watches the directory of the file's symlink target, following it when it moved. */
static void
watch_file_follow(struct watch *w, struct watch_file *f)
{
    char resolved[PATH_MAX];
    char *dir = NULL;
    int target = -1;

    if (realpath(f->path, resolved) != NULL) {
        dir = watch_dirname(resolved);
        /* The same directory under another name needs no second watch. */
        if (strcmp(dir, w->dirs[f->dir].path) != 0)
            target = watch_dir_use(w, dir);
    }
    watch_dir_drop(w, f->target);
    f->target = target;
    free(dir);
}

struct watch *
watch_new(unsigned debounce_ms)
{
    struct watch *w = xcalloc(1, sizeof(*w));

    w->debounce_ms = debounce_ms;
    for (int i = 0; i < WATCH_MAX_DIRS; i++)
        w->dirs[i].wd = -1;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0)
        log_warn("cannot use inotify; checking files for changes every %d s",
                 WATCH_RESCAN_UNWATCHED_MS / 1000);
    w->last_rescan_ms = watch_now_ms();
    return w;
}

void
watch_free(struct watch *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (unsigned i = 0; i < w->nfiles; i++)
        free(w->files[i].path);
    for (int i = 0; i < WATCH_MAX_DIRS; i++)
        free(w->dirs[i].path);
    free(w);
}

int
watch_add(struct watch *w, const char *path)
{
    struct watch_file *f;
    char *dir;

    if (w->nfiles >= WATCH_MAX_FILES)
        return -1;
    f = &w->files[w->nfiles];
    dir = watch_dirname(path);
    f->path = xstrdup(path);
    f->dir = watch_dir_use(w, dir);
    f->target = -1;
    free(dir);
    watch_file_follow(w, f);
    return (int)w->nfiles++;
}

int
watch_fd(const struct watch *w)
{
    return w->fd;
}

/* True when some directory in use has no inotify watch. */
static bool
watch_blind(const struct watch *w)
{
    for (int i = 0; i < WATCH_MAX_DIRS; i++) {
        if (w->dirs[i].path != NULL && w->dirs[i].wd < 0)
            return true;
    }
    return false;
}

/* Returns when the next rescan is due. */
static int64_t
watch_next_rescan(const struct watch *w)
{
    return w->last_rescan_ms + (watch_blind(w) ? WATCH_RESCAN_UNWATCHED_MS : WATCH_RESCAN_MS);
}

int
watch_timeout(const struct watch *w)
{
    int64_t now = watch_now_ms(), next = watch_next_rescan(w);

    for (int i = 0; i < WATCH_MAX_DIRS; i++) {
        const struct watch_dir *d = &w->dirs[i];
        int64_t due;
        if (d->path == NULL || d->first_ms == 0)
            continue;
        due = d->last_ms + w->debounce_ms;
        if (due > d->first_ms + WATCH_MAX_DELAY_MS)
            due = d->first_ms + WATCH_MAX_DELAY_MS;
        if (due < next)
            next = due;
    }
    if (next <= now)
        return 0;
    return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* Reads every pending inotify event and notes it in its directories. */
static void
watch_read_events(struct watch *w, int64_t now)
{
    /* Aligned as inotify_event is, as inotify(7) asks. */
    _Alignas(struct inotify_event) char buf[4096];

    if (w->fd < 0)
        return;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            bool gone = (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0;
            watch_dir_touch(w, (ev->mask & IN_Q_OVERFLOW) ? -1 : ev->wd, gone, now);
            p += sizeof(*ev) + ev->len;
        }
    }
}

uint32_t
watch_check(struct watch *w)
{
    int64_t now = watch_now_ms();
    bool dir_due[WATCH_MAX_DIRS];
    uint32_t due = 0;
    bool rescan;

    watch_read_events(w, now);
    rescan = now >= watch_next_rescan(w);
    for (int i = 0; i < WATCH_MAX_DIRS; i++) {
        struct watch_dir *d = &w->dirs[i];
        dir_due[i] = d->path != NULL && watch_dir_due(w, d, now);
        if (dir_due[i])
            d->first_ms = d->last_ms = 0;
        /* A directory that went away and came back (or never was) is watched again. */
        if (d->path != NULL && (rescan || dir_due[i]))
            watch_dir_arm(w, d);
    }
    for (unsigned i = 0; i < w->nfiles; i++) {
        struct watch_file *f = &w->files[i];
        if (rescan || dir_due[f->dir] || (f->target >= 0 && dir_due[f->target])) {
            due |= 1u << i;
            watch_file_follow(w, f);
        }
    }
    if (rescan)
        w->last_rescan_ms = now;
    return due;
}
