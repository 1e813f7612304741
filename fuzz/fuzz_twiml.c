/*
 * libFuzzer target for core/twiml. The input becomes the text and one
 * attribute value of an element picked by the first byte; whatever the
 * bytes are, a document the builder accepts must be well formed (balanced
 * tags, no raw '<' or stray '&' in text, no raw '"' or '<' in attribute
 * values), and escaping must round-trip. Any violation aborts.
 *
 * Input layout: byte 0 picks the element, byte 1 says where the rest is
 * split between the text and the attribute value; the rest is the payload.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/twiml.h"

struct target {
    const char *path[3]; /* elements to open first, NULL-terminated */
    const char *name;
    const char *attr;
    int text; /* the element takes text */
};

static const struct target targets[] = {
    {{NULL}, "Say", "voice", 1},
    {{NULL}, "Play", "digits", 1},
    {{NULL}, "Redirect", "method", 1},
    {{NULL}, "Enqueue", "waitUrl", 1},
    {{NULL}, "Reject", "reason", 0},
    {{NULL}, "Record", "transcribeCallback", 0},
    {{"Dial", NULL}, "Number", "statusCallbackEvent", 1},
    {{"Dial", NULL}, "Conference", "waitUrl", 1},
    {{"Dial", NULL}, "Sip", "password", 1},
    {{"Dial", "Client", NULL}, "Identity", NULL, 1},
    {{"Gather", NULL}, "Say", "language", 1},
    {{"Connect", "Stream", NULL}, "Parameter", "value", 0},
    {{"Start", NULL}, "Stream", "url", 0},
    {{"Say", "prosody", NULL}, "say-as", "interpret-as", 1},
    {{"Enqueue", NULL}, "Task", "priority", 1},
};

#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static const char prolog[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

static void check(int ok)
{
    if (!ok)
        abort();
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == ':';
}

/* Returns the length of the entity at `p` if it is one the builder writes. */
static size_t entity_len(const char *p, size_t n, int attr)
{
    static const char *const text_ents[] = {"&amp;", "&lt;", "&gt;", NULL};
    static const char *const attr_ents[] = {"&amp;", "&lt;",  "&gt;",  "&quot;",
                                            "&#10;", "&#13;", "&#09;", NULL};
    const char *const *e;

    for (e = attr ? attr_ents : text_ents; *e; e++) {
        size_t len = strlen(*e);

        if (len <= n && memcmp(p, *e, len) == 0)
            return len;
    }
    return 0;
}

/*
 * Checks that `d` is a document of the shape the builder promises: the XML
 * declaration, then one balanced <Response> element and nothing after it.
 */
static void check_document(const char *d, size_t n)
{
    const char *names[TWIML_MAX_DEPTH + 1];
    size_t lens[TWIML_MAX_DEPTH + 1];
    size_t p = sizeof(prolog) - 1;
    int depth = 0, closed_root = 0;

    check(n > p && memcmp(d, prolog, p) == 0);
    check(strlen(d) == n);
    while (p < n) {
        check(!closed_root);
        if (d[p] != '<') {
            /* Text: only inside an element, with every '&' an entity. */
            check(depth > 0);
            while (p < n && d[p] != '<') {
                check(d[p] != '>');
                if (d[p] == '&') {
                    size_t len = entity_len(d + p, n - p, 0);

                    check(len > 0);
                    p += len;
                } else {
                    p++;
                }
            }
            continue;
        }
        p++;
        if (p < n && d[p] == '/') {
            size_t start = ++p;

            while (p < n && is_name_char(d[p]))
                p++;
            check(depth > 0 && p < n && d[p] == '>');
            depth--;
            check(p - start == lens[depth] && memcmp(d + start, names[depth], lens[depth]) == 0);
            p++;
            closed_root = depth == 0;
            continue;
        }
        check(depth <= TWIML_MAX_DEPTH);
        names[depth] = d + p;
        while (p < n && is_name_char(d[p]))
            p++;
        lens[depth] = (size_t)(d + p - names[depth]);
        check(lens[depth] > 0);
        check(depth > 0 || (lens[0] == 8 && memcmp(names[0], "Response", 8) == 0));
        for (;;) {
            check(p < n);
            if (d[p] == '>') {
                p++;
                depth++;
                break;
            }
            /* Self-closing with the space twilio-python writes. */
            if (n - p >= 3 && memcmp(d + p, " />", 3) == 0) {
                p += 3;
                closed_root = depth == 0;
                break;
            }
            check(d[p] == ' ');
            p++;
            check(p < n && is_name_char(d[p]));
            while (p < n && is_name_char(d[p]))
                p++;
            check(n - p >= 2 && d[p] == '=' && d[p + 1] == '"');
            p += 2;
            while (p < n && d[p] != '"') {
                check(d[p] != '<' && d[p] != '>' && d[p] != '\n' && d[p] != '\r' && d[p] != '\t');
                if (d[p] == '&') {
                    size_t len = entity_len(d + p, n - p, 1);

                    check(len > 0);
                    p += len;
                } else {
                    p++;
                }
            }
            check(p < n);
            p++;
        }
    }
    check(depth == 0 && closed_root);
}

/* Undoes the builder's escaping so that the round trip can be compared. */
static void unescape(const char *s, struct buf *out)
{
    static const struct {
        const char *ent;
        char c;
    } map[] = {{"&amp;", '&'},  {"&lt;", '<'},   {"&gt;", '>'},  {"&quot;", '"'},
               {"&#10;", '\n'}, {"&#13;", '\r'}, {"&#09;", '\t'}};
    size_t i;

    while (*s) {
        if (*s == '&') {
            for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
                size_t len = strlen(map[i].ent);

                if (strncmp(s, map[i].ent, len) == 0) {
                    check(buf_putc(out, map[i].c) == 0);
                    s += len;
                    break;
                }
            }
            check(i < sizeof(map) / sizeof(map[0]));
        } else {
            check(buf_putc(out, *s) == 0);
            s++;
        }
    }
}

static void check_escape_round_trip(const char *s, int attr)
{
    struct buf esc = BUF_INIT(8 * 65536);
    struct buf back = BUF_INIT(8 * 65536);
    int rc = attr ? twiml_escape_attr(&esc, s) : twiml_escape_text(&esc, s);

    check(rc == 0 || rc == SB_EINVAL);
    if (rc == 0) {
        const char *e = buf_cstr(&esc);

        check(strchr(e, '<') == NULL && strchr(e, '>') == NULL);
        if (attr)
            check(strpbrk(e, "\"\n\r\t") == NULL);
        unescape(e, &back);
        check(strcmp(buf_cstr(&back), s) == 0);
    } else {
        check(esc.len == 0);
    }
    buf_release(&esc);
    buf_release(&back);
}

/* True when every byte is printable ASCII, tab, newline or carriage return. */
static int plain_ascii(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct target *tg;
    const char *attrs[3];
    struct twiml t;
    char *text = NULL, *value = NULL, *doc = NULL;
    size_t split, len = 0, i;
    int rc;

    if (size < 2 || size > 4 * TWIML_MAX_SIZE)
        return 0;
    tg = &targets[data[0] % NTARGETS];
    data += 2;
    size -= 2;
    split = size ? data[-1] * size / 255 : 0;
    text = malloc(split + 1);
    value = malloc(size - split + 1);
    if (!text || !value)
        goto out;
    memcpy(text, data, split);
    text[split] = '\0';
    memcpy(value, data + split, size - split);
    value[size - split] = '\0';

    check_escape_round_trip(text, 0);
    check_escape_round_trip(value, 1);

    twiml_init(&t);
    for (i = 0; tg->path[i]; i++)
        twiml_open(&t, tg->path[i], NULL);
    attrs[0] = tg->attr;
    attrs[1] = value;
    attrs[2] = NULL;
    /* Errors are sticky, so twiml_finish reports any failure here. */
    twiml_leaf(&t, tg->name, attrs, tg->text ? text : NULL);
    rc = twiml_finish(&t, &doc, &len);
    check(rc == 0 || rc == SB_EINVAL || rc == SB_ETOOBIG);
    if (rc == 0) {
        check(doc != NULL && len <= TWIML_MAX_SIZE);
        check_document(doc, len);
    } else {
        check(doc == NULL);
        /* Plain ASCII of a size that fits can only be refused for size. */
        if (plain_ascii(text) && plain_ascii(value))
            check(rc == SB_ETOOBIG);
    }
out:
    free(doc);
    free(text);
    free(value);
    return 0;
}
