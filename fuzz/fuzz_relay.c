/*
 * libFuzzer target for media/relay: the input is a series of messages (one
 * per line) fed to a ConversationRelay session after a valid setup, with the
 * rule agent answering. Besides the sanitizers it checks what Twilio relies
 * on: everything sent is a JSON object with a known type, a text message has
 * a string token and a boolean last, and nothing is sent after the session
 * closed.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/log.h"
#include "media/relay.h"

static int closed;

static int check_send(void *arg, const char *text, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    const char *type = json_string_value(json_object_get(j, "type"));

    (void)arg;
    if (closed || !json_is_object(j) || !type)
        abort();
    if (strcmp(type, "text") == 0) {
        if (!json_is_string(json_object_get(j, "token")) ||
            !json_is_boolean(json_object_get(j, "last")))
            abort();
    } else if (strcmp(type, "end") != 0 && strcmp(type, "language") != 0) {
        abort();
    }
    json_decref(j);
    return 0;
}

static void on_close(void *arg, int code, const char *reason)
{
    (void)arg;
    if (code < 1000 || code > 1011 || !reason)
        abort();
    closed = 1;
}

static void on_started(void *arg, struct relay_session *s, const struct relay_setup *setup)
{
    struct agent_call call;

    (void)arg;
    memset(&call, 0, sizeof(call));
    call.call_sid = setup->call_sid;
    call.tenant_name = "Acme";
    call.lang = setup->lang ? setup->lang : "en-US";
    call.can_transfer = 1;
    (void)relay_begin(s, agent_for("receptionist"), &call, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char setup[] =
        "{\"type\":\"setup\",\"callSid\":\"CA0123456789abcdef0123456789abcdef\","
        "\"customParameters\":{\"lang\":\"es-MX\"}}";
    struct relay_io io = {NULL, check_send, on_close, on_started};
    struct relay_session s;
    const char *p = (const char *)data, *end = p + size;

    log_set_level(LOG_ERROR);
    closed = 0;
    relay_init(&s, &io);
    /* Half the inputs start without a setup, to exercise the refusals. */
    if (size && (data[0] & 1))
        (void)relay_message(&s, setup, sizeof(setup) - 1, 0);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        (void)relay_message(&s, p, len, 0);
        p += len + (nl != NULL);
    }
    relay_release(&s);
    return 0;
}
