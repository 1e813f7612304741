#include "agent/speakable.h"

#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/banned.h"

/* Words that a '.' follows without ending the sentence (compared in ASCII lower case). */
static const char *const titles[] = {
    "dr",  "dra", "sr", "sra", "srta", "sres", "mr",  "mrs", "ms",   "st", "av",     "avda", "prof",
    "ing", "lic", "jr", "ud",  "uds",  "vs",   "e.g", "i.e", "p.ej", "ej", "approx", "tel",  "ext",
};

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A letter: ASCII, or the lead byte of a letter outside ASCII (not ¿ ¡ « » …). */
static int is_letter_byte(unsigned char c)
{
    return is_alpha(c) || (c >= 0xc3 && c <= 0xdf) || (c >= 0xe3 && c <= 0xf4);
}

static int has_word(const unsigned char *p, size_t end)
{
    for (size_t i = 0; i < end; i++)
        if (is_letter_byte(p[i]))
            return 1;
    return 0;
}

/* The length of a sentence mark at p[i] (. ! ? …), 0 when there is none (yet). */
static size_t terminator(const unsigned char *p, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (p[i] == '.' || p[i] == '!' || p[i] == '?')
        return 1;
    if (n - i >= 3 && p[i] == 0xe2 && p[i + 1] == 0x80 && p[i + 2] == 0xa6)
        return 3;
    return 0;
}

/* The length of a closing quote or bracket at p[i]: " ' ) ] » ” ’. */
static size_t closer(const unsigned char *p, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (p[i] == '"' || p[i] == '\'' || p[i] == ')' || p[i] == ']')
        return 1;
    if (n - i >= 2 && p[i] == 0xc2 && p[i + 1] == 0xbb)
        return 2;
    if (n - i >= 3 && p[i] == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0x9d || p[i + 2] == 0x99))
        return 3;
    return 0;
}

/* An opening ¿ or ¡ at p[i]; -1 when p[i] may be the start of one not yet complete. */
static int opener(const unsigned char *p, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (p[i] != 0xc2)
        return 0;
    if (i + 1 == n)
        return -1;
    return p[i + 1] == 0xbf || p[i + 1] == 0xa1;
}

/* The word that ends at p[end] (a '.'), without opening marks, is a title or one letter. */
static int is_title(const unsigned char *p, size_t end)
{
    size_t start = end, len;

    while (start > 0 && !is_ws(p[start - 1]))
        start--;
    for (;;) {
        if (start < end && (p[start] == '(' || p[start] == '"' || p[start] == '\''))
            start++;
        else if (end - start >= 2 && p[start] == 0xc2 &&
                 (p[start + 1] == 0xbf || p[start + 1] == 0xa1 || p[start + 1] == 0xab))
            start += 2;
        else
            break;
    }
    len = end - start;
    if (len == 1 && is_alpha(p[start]))
        return 1;
    for (size_t t = 0; t < sizeof(titles) / sizeof(titles[0]); t++) {
        size_t k = 0;

        if (strlen(titles[t]) != len)
            continue;
        while (k < len && (p[start + k] | 0x20) == titles[t][k])
            k++;
        if (k == len)
            return 1;
    }
    return 0;
}

/*
 * A run of sentence marks p[i..e) (closers included) is followed by p[e]:
 * whether the sentence ends there. `strong`: the run holds ! or ?.
 */
static int sentence_ends(const unsigned char *p, size_t n, size_t i, size_t e, int strong)
{
    size_t k = e;

    if (opener(p, e, n) == 1)
        return 1;
    if (!is_ws(p[e]))
        return 0;
    if (strong)
        return 1;
    while (k < n && is_ws(p[k]))
        k++;
    if (k == n || (p[k] >= 'a' && p[k] <= 'z'))
        return 0;
    return !is_title(p, i);
}

/* Where the first piece of p[0..n) ends, 0 when no boundary is decided yet. */
static size_t find_cut(const struct speakable *s, const unsigned char *p, size_t n)
{
    size_t i = 0, t;

    while (i < n) {
        if (p[i] == '\n') {
            if (has_word(p, i))
                return i + 1;
            i++;
        } else if ((t = terminator(p, i, n)) != 0) {
            size_t e = i;
            int strong = 0;

            while ((t = terminator(p, e, n)) != 0) {
                strong |= p[e] == '!' || p[e] == '?';
                e += t;
            }
            while ((t = closer(p, e, n)) != 0)
                e += t;
            if (e < n && has_word(p, i) && sentence_ends(p, n, i, e, strong))
                return e;
            i = e;
        } else if (p[i] == ',' || p[i] == ';' || p[i] == ':') {
            size_t e = i + 1, k;

            while ((t = closer(p, e, n)) != 0)
                e += t;
            if (e >= s->min_clause && e < n && is_ws(p[e]) && has_word(p, i)) {
                k = e;
                while (k < n && is_ws(p[k]))
                    k++;
                if (k < n && opener(p, k, n) == 0)
                    return e;
            }
            i = e;
        } else {
            i++;
        }
    }
    return 0;
}

/* A cut at or before max_piece: the last white space, else the last character boundary. */
static size_t forced_cut(const struct speakable *s, const unsigned char *p)
{
    size_t k = s->max_piece;

    while (k > 0 && !is_ws(p[k]))
        k--;
    if (k > 0)
        return k;
    k = s->max_piece;
    while (k > s->max_piece - 3 && (p[k] & 0xc0) == 0x80)
        k--;
    return (p[k] & 0xc0) == 0x80 ? s->max_piece : k;
}

/* The length of p[0..n) without an unfinished UTF-8 sequence at its end. */
static size_t complete_len(const unsigned char *p, size_t n)
{
    size_t k = n, need;

    while (k > 0 && n - k < 3 && (p[k - 1] & 0xc0) == 0x80)
        k--;
    if (k == 0 || p[k - 1] < 0xc0)
        return n;
    need = p[k - 1] >= 0xf0 ? 4 : p[k - 1] >= 0xe0 ? 3 : 2;
    return n - (k - 1) < need ? k - 1 : n;
}

static void drop_front(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

static int drain(struct speakable *s, speakable_emit_fn emit, void *arg, int final)
{
    for (;;) {
        const unsigned char *p;
        size_t n, lead = 0, cut, end;
        int rc = 0;

        p = (const unsigned char *)s->pending.data;
        n = s->pending.len;
        while (lead < n && is_ws(p[lead]))
            lead++;
        if (lead > 0)
            drop_front(&s->pending, lead);
        n -= lead;
        if (n == 0)
            return 0;
        cut = find_cut(s, p, n);
        if (cut == 0 && n > s->max_piece)
            cut = forced_cut(s, p);
        if (cut == 0) {
            if (!final)
                return 0;
            n = complete_len(p, n);
            s->pending.len = n;
            s->pending.data[n] = '\0';
            cut = n;
        }
        end = cut;
        while (end > 0 && is_ws(p[end - 1]))
            end--;
        if (end > 0)
            rc = emit(arg, (const char *)p, end);
        drop_front(&s->pending, cut);
        if (rc)
            return rc;
    }
}

void speakable_init(struct speakable *s, size_t min_clause, size_t max_piece)
{
    s->min_clause = min_clause ? min_clause : SPEAKABLE_MIN_CLAUSE;
    s->max_piece = max_piece ? max_piece : SPEAKABLE_MAX_PIECE;
    if (s->max_piece < 16)
        s->max_piece = 16;
    buf_init(&s->pending, 2 * s->max_piece);
}

int speakable_push(struct speakable *s, const char *text, size_t len, speakable_emit_fn emit,
                   void *arg)
{
    while (len > 0) {
        size_t k = len < s->max_piece ? len : s->max_piece;
        int rc = buf_append(&s->pending, text, k);

        if (rc) {
            buf_reset(&s->pending);
            return rc;
        }
        text += k;
        len -= k;
        rc = drain(s, emit, arg, 0);
        if (rc)
            return rc;
    }
    return 0;
}

int speakable_flush(struct speakable *s, speakable_emit_fn emit, void *arg)
{
    int rc = drain(s, emit, arg, 1);

    if (!rc)
        buf_reset(&s->pending);
    return rc;
}

void speakable_reset(struct speakable *s)
{
    buf_reset(&s->pending);
}

void speakable_release(struct speakable *s)
{
    buf_release(&s->pending);
}
