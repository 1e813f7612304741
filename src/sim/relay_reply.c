#include "sim/relay_reply.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

int sim_relay_reply_add(struct sim_relay_reply *r, const char *token, int last, double now_ms)
{
    size_t n = token ? strlen(token) : 0;

    if (n > SIM_RELAY_REPLY_MAX || r->len + n > SIM_RELAY_REPLY_MAX)
        return SB_ETOOBIG;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        char *grown;

        while (cap < r->len + n + 1)
            cap *= 2;
        grown = realloc(r->text, cap);
        if (!grown)
            return SB_ENOMEM;
        r->text = grown;
        r->cap = cap;
    }
    if (n)
        memcpy(r->text + r->len, token, n);
    r->len += n;
    r->text[r->len] = '\0';
    if (r->start_ms < 0 && sim_relay_words(token ? token : "", n) > 0)
        r->start_ms = now_ms;
    if (last)
        r->complete = 1;
    return 0;
}

void sim_relay_reply_reset(struct sim_relay_reply *r)
{
    r->len = 0;
    r->shown = 0;
    if (r->text)
        r->text[0] = '\0';
    r->start_ms = -1;
    r->complete = 0;
}

void sim_relay_reply_release(struct sim_relay_reply *r)
{
    free(r->text);
    r->text = NULL;
    r->cap = 0;
    sim_relay_reply_reset(r);
}

size_t sim_relay_words(const char *text, size_t len)
{
    size_t words = 0;
    int in_word = 0;

    for (size_t i = 0; i < len; i++) {
        if (is_space(text[i])) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}

double sim_relay_reply_speaking_ms(const struct sim_relay_reply *r)
{
    return (double)sim_relay_words(r->text ? r->text : "", r->len) * SIM_RELAY_MS_PER_WORD;
}

int sim_relay_reply_speaking(const struct sim_relay_reply *r, double now_ms)
{
    return r->start_ms >= 0 && now_ms < r->start_ms + sim_relay_reply_speaking_ms(r);
}

size_t sim_relay_reply_heard(const struct sim_relay_reply *r, double now_ms, double *elapsed_ms)
{
    double elapsed = r->start_ms >= 0 && now_ms > r->start_ms ? now_ms - r->start_ms : 0;
    size_t words = (size_t)(elapsed / SIM_RELAY_MS_PER_WORD), seen = 0, end = 0;
    int in_word = 0;

    *elapsed_ms = elapsed;
    if (r->start_ms < 0 || words == 0)
        return 0;
    for (size_t i = 0; i < r->len; i++) {
        if (is_space(r->text[i])) {
            if (in_word && seen == words)
                break;
            in_word = 0;
        } else {
            if (!in_word) {
                in_word = 1;
                if (++seen > words)
                    break;
            }
            end = i + 1;
        }
    }
    return end;
}

size_t sim_relay_reply_unshown(struct sim_relay_reply *r, const char **text)
{
    size_t from = r->shown, to = r->len;

    r->shown = r->len;
    while (from < to && is_space(r->text[from]))
        from++;
    while (to > from && is_space(r->text[to - 1]))
        to--;
    *text = to > from ? r->text + from : "";
    return to - from;
}
