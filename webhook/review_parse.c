/* SPDX-License-Identifier: Apache-2.0 */
/* An AdmissionReview's JSON in one pass: checked as cJSON checks it, built only where it is read.
 */
#include "webhook/review.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <cjson/cJSON.h>

#include "policy/arena.h"

/*
 * Members no decision reads: managedFields alone is close to half of a pod's bytes, and
 * environments, volumes, mounts, probes and images most of the rest. They are checked like the
 * rest of the text but get no nodes. Label or annotation keys with these names go too, which is
 * harmless for the same reason.
 */
bool
review_is_unread(const char *key, size_t len)
{
#define IS(name) (len == sizeof(name) - 1 && memcmp(key, name, sizeof(name) - 1) == 0)
    switch (key[0]) {
    case 'a':
        return IS("args");
    case 'c':
        return IS("command");
    case 'e':
        return IS("env") || IS("envFrom");
    case 'i':
        return IS("image") || IS("imagePullPolicy");
    case 'l':
        return IS("livenessProbe") || IS("lifecycle");
    case 'm':
        return IS("managedFields");
    case 'o':
        return IS("ownerReferences");
    case 'p':
        return IS("ports");
    case 'r':
        return IS("readinessProbe");
    case 's':
        return IS("securityContext") || IS("startupProbe");
    case 't':
        return IS("terminationMessagePath") || IS("terminationMessagePolicy");
    case 'v':
        return IS("volumes") || IS("volumeMounts");
    default:
        return false;
    }
#undef IS
}

/*
 * The parser works on a private copy of the text, followed by REVIEW_PAD quote characters: a
 * string scan stops at the first of them without a bounds check of its own, and no other token
 * can begin or continue with a quote, so only the two places where a string may begin (a value
 * and a member name) compare against the end. Strings are decoded in place, never growing, and
 * nodes point into the copy; both live in the thread's arena.
 */
#define REVIEW_PAD 16
#define REVIEW_NESTING_MAX 1000 /* cJSON's CJSON_NESTING_LIMIT */
#define REVIEW_NUMBER_MAX 63    /* longer numbers are left to cJSON, whose versions differ */

struct review_parser {
    char *p;   /* the next byte */
    char *end; /* the first pad byte */
};

/*
 * Returns the first byte at or after p that ends a run of plain string characters: a quote, a
 * backslash or a NUL. Most of a review's bytes are in strings, most strings are short, so
 * sixteen bytes are compared at once where SSE2 is there (every x86-64). The pad guarantees a
 * quote within the sixteen bytes read at any p up to the end.
 */
static char *
review_plain_end(char *p)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i nul = _mm_setzero_si128();

    for (;; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmpeq_epi8(v, nul));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);

        if (mask != 0)
            return p + __builtin_ctz(mask);
    }
#else
    while (*p != '"' && *p != '\\' && *p != '\0')
        p++;
    return p;
#endif
}

/* The bytes cJSON collects for strtod when it reads a number. */
static const bool review_number_byte[256] = {
    ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
    ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
    ['+'] = true, ['-'] = true, ['e'] = true, ['E'] = true, ['.'] = true};

/* cJSON's whitespace: every byte up to and including the space, NUL among them. */
static void
review_parse_space(struct review_parser *ps)
{
    while ((unsigned char)*ps->p <= ' ')
        ps->p++;
}

static cJSON *
review_node(int type)
{
    cJSON *node = arena_cjson_malloc(sizeof(*node));

    memset(node, 0, sizeof(*node));
    node->type = type;
    return node;
}

/* Reads four hex digits at p into *code; false when one is not a hex digit. */
static bool
review_hex4(const char *p, unsigned *code)
{
    *code = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16;
        if (v == 16)
            return false;
        *code = *code << 4 | v;
    }
    return true;
}

/* Writes code point cp as UTF-8 at w, as cJSON does; returns the byte after it. */
static char *
review_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

/*
 * The escape at p ('\\'), decoded to w; returns the byte after it in the text and moves *w past
 * what it wrote, or returns NULL for an escape this parser does not vouch for. cJSON refuses the
 * same escapes except a \u with a non-hex digit, which it reads as zero: that is left to it,
 * as is \u0000 (see review_parse_string).
 */
static char *
review_parse_escape(char *p, char **w)
{
    unsigned code, low;

    switch (p[1]) {
    case 'b':
        *(*w)++ = '\b';
        return p + 2;
    case 'f':
        *(*w)++ = '\f';
        return p + 2;
    case 'n':
        *(*w)++ = '\n';
        return p + 2;
    case 'r':
        *(*w)++ = '\r';
        return p + 2;
    case 't':
        *(*w)++ = '\t';
        return p + 2;
    case '"':
    case '\\':
    case '/':
        *(*w)++ = p[1];
        return p + 2;
    case 'u':
        if (!review_hex4(p + 2, &code) || code == 0 || (code >= 0xDC00 && code <= 0xDFFF))
            return NULL;
        if (code < 0xD800 || code > 0xDBFF) {
            *w = review_utf8(*w, code);
            return p + 6;
        }
        if (p[6] != '\\' || p[7] != 'u' || !review_hex4(p + 8, &low) || low < 0xDC00 ||
            low > 0xDFFF)
            return NULL;
        *w = review_utf8(*w, 0x10000 + ((code & 0x3FF) << 10 | (low & 0x3FF)));
        return p + 12;
    default:
        return NULL;
    }
}

/*
 * The rest of a string whose first escape is at p: decoded in place from there on. Returns the
 * string and its length as review_parse_string does.
 */
static char *
review_parse_escaped(struct review_parser *ps, char *start, char *p, size_t *len)
{
    char *w = p;

    while (*p == '\\') {
        char *run;

        if ((p = review_parse_escape(p, &w)) == NULL)
            return NULL;
        run = p;
        p = review_plain_end(run);
        memmove(w, run, (size_t)(p - run));
        w += p - run;
    }
    if (*p != '"' || p >= ps->end)
        return NULL;
    *w = '\0';
    *len = (size_t)(w - start);
    ps->p = p + 1;
    return start;
}

/*
 * A string at ps->p ('"', before the end), decoded in place and NUL-terminated; returns it and
 * its length in *len, or NULL when the text is no string cJSON and this parser agree on. A NUL
 * inside (raw or \u0000) is refused too: cJSON would cut the string there, and keeping every
 * string's length equal to its C length keeps review_is_unread exact.
 */
static inline char *
review_parse_string(struct review_parser *ps, size_t *len)
{
    char *start = ps->p + 1, *p = review_plain_end(start);

    if (*p == '\\')
        return review_parse_escaped(ps, start, p, len);
    if (*p != '"' || p >= ps->end)
        return NULL; /* a NUL, or the pad's quote: the string never closed */
    *p = '\0';
    *len = (size_t)(p - start);
    ps->p = p + 1;
    return start;
}

static bool
review_parse_number(struct review_parser *ps, cJSON **out)
{
    char buf[REVIEW_NUMBER_MAX + 1], *after;
    size_t n = 0;
    double number;

    while (n < REVIEW_NUMBER_MAX && review_number_byte[(unsigned char)ps->p[n]]) {
        buf[n] = ps->p[n];
        n++;
    }
    if (n == REVIEW_NUMBER_MAX)
        return false;
    buf[n] = '\0';
    number = strtod(buf, &after);
    if (after == buf)
        return false;
    ps->p += after - buf;
    if (out != NULL) {
        *out = review_node(cJSON_Number);
        (*out)->valuedouble = number;
        (*out)->valueint = number >= INT_MAX           ? INT_MAX
                           : number <= (double)INT_MIN ? INT_MIN
                                                       : (int)number;
    }
    return true;
}

static bool
review_parse_literal(struct review_parser *ps, const char *word, size_t n, int type, cJSON **out)
{
    /* The pad makes the comparison safe at the end of the text, and never matches. */
    if (memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    if (out != NULL) {
        *out = review_node(type);
        (*out)->valueint = type == cJSON_True;
    }
    return true;
}

static bool review_parse_value(struct review_parser *ps, unsigned depth, cJSON **out);

/* Appends child to node's children, keeping cJSON's rule that the first one's prev is the last. */
static void
review_append(cJSON *node, cJSON *child)
{
    if (node->child == NULL) {
        node->child = child;
    } else {
        node->child->prev->next = child;
        child->prev = node->child->prev;
    }
    node->child->prev = child;
}

/* An object at ps->p ('{'); with out, its node, without the members no decision reads. */
static bool
review_parse_object(struct review_parser *ps, unsigned depth, cJSON **out)
{
    cJSON *node = out != NULL ? review_node(cJSON_Object) : NULL;

    ps->p++;
    review_parse_space(ps);
    if (*ps->p != '}') {
        for (;;) {
            cJSON *child = NULL;
            char *key;
            size_t len;
            bool keep;

            if (*ps->p != '"' || ps->p >= ps->end || (key = review_parse_string(ps, &len)) == NULL)
                return false;
            review_parse_space(ps);
            if (*ps->p != ':')
                return false;
            ps->p++;
            keep = node != NULL && !review_is_unread(key, len);
            if (!review_parse_value(ps, depth, keep ? &child : NULL))
                return false;
            if (keep) {
                child->string = key;
                review_append(node, child);
            }
            review_parse_space(ps);
            if (*ps->p != ',')
                break;
            ps->p++;
            review_parse_space(ps);
        }
        if (*ps->p != '}')
            return false;
    }
    ps->p++;
    if (out != NULL)
        *out = node;
    return true;
}

static bool
review_parse_array(struct review_parser *ps, unsigned depth, cJSON **out)
{
    cJSON *node = out != NULL ? review_node(cJSON_Array) : NULL;

    ps->p++;
    review_parse_space(ps);
    if (*ps->p != ']') {
        for (;;) {
            cJSON *child = NULL;

            if (!review_parse_value(ps, depth, node != NULL ? &child : NULL))
                return false;
            if (node != NULL)
                review_append(node, child);
            review_parse_space(ps);
            if (*ps->p != ',')
                break;
            ps->p++;
        }
        if (*ps->p != ']')
            return false;
    }
    ps->p++;
    if (out != NULL)
        *out = node;
    return true;
}

/* A value after optional whitespace; with out, its node. depth counts the enclosing containers. */
static bool
review_parse_value(struct review_parser *ps, unsigned depth, cJSON **out)
{
    char *s;
    size_t len;

    review_parse_space(ps);
    switch (*ps->p) {
    case '{':
        return depth < REVIEW_NESTING_MAX && review_parse_object(ps, depth + 1, out);
    case '[':
        return depth < REVIEW_NESTING_MAX && review_parse_array(ps, depth + 1, out);
    case '"':
        if (ps->p >= ps->end || (s = review_parse_string(ps, &len)) == NULL)
            return false;
        if (out != NULL) {
            *out = review_node(cJSON_String);
            (*out)->valuestring = s;
        }
        return true;
    case 'n':
        return review_parse_literal(ps, "null", 4, cJSON_NULL, out);
    case 't':
        return review_parse_literal(ps, "true", 4, cJSON_True, out);
    case 'f':
        return review_parse_literal(ps, "false", 5, cJSON_False, out);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return review_parse_number(ps, out);
    default:
        return false;
    }
}

cJSON *
review_parse(const char *text, size_t len)
{
    struct review_parser ps;
    char *copy = arena_cjson_malloc(len + REVIEW_PAD);
    cJSON *root = NULL;

    memcpy(copy, text, len);
    memset(copy + len, '"', REVIEW_PAD);
    ps.p = copy;
    ps.end = copy + len;
    if (len == 0 || !review_parse_value(&ps, 0, &root))
        return NULL;
    return root; /* what follows the value is not read, as with cJSON_ParseWithLength */
}

/* Whether lean's child list is well formed: prev links back, and the first one's is the last. */
static bool
review_list_ok(const cJSON *lean)
{
    const cJSON *c, *last = NULL;

    for (c = lean->child; c != NULL; last = c, c = c->next)
        if (c != lean->child && c->prev != last)
            return false;
    return lean->child == NULL || lean->child->prev == last;
}

bool
review_parse_matches(const cJSON *full, const cJSON *lean)
{
    const cJSON *f, *l;

    if (full == NULL || lean == NULL || full->type != lean->type)
        return full == lean;
    switch (full->type & 0xFF) {
    case cJSON_String:
        return strcmp(full->valuestring, lean->valuestring) == 0;
    case cJSON_Number:
        return full->valuedouble == lean->valuedouble && full->valueint == lean->valueint;
    case cJSON_True:
    case cJSON_False:
    case cJSON_NULL:
        return full->valueint == lean->valueint;
    case cJSON_Array:
    case cJSON_Object:
        break;
    default:
        return false;
    }
    if (!review_list_ok(lean))
        return false;
    for (f = full->child, l = lean->child; f != NULL; f = f->next) {
        if (cJSON_IsObject(full) && review_is_unread(f->string, strlen(f->string)))
            continue;
        if (l == NULL || !review_parse_matches(f, l))
            return false;
        if (cJSON_IsObject(full) && strcmp(f->string, l->string) != 0)
            return false;
        l = l->next;
    }
    return l == NULL;
}
