/* Printing a simulated call's transcript, for people and for machines. */
#include <stdio.h>
#include <string.h>

#include "sim/call.h"
#include "core/banned.h"

static const char *str(json_t *ev, const char *key)
{
    const char *v = json_string_value(json_object_get(ev, key));

    return v ? v : "";
}

/* A stream's voice to voice per caller turn: "; voice to voice 812, -, 640 ms". */
static void print_voice_to_voice(json_t *v2v, FILE *out)
{
    size_t i;
    json_t *ms;

    if (!json_array_size(v2v))
        return;
    fprintf(out, "; voice to voice");
    json_array_foreach(v2v, i, ms)
    {
        if (json_is_integer(ms))
            fprintf(out, "%s%lld", i ? ", " : " ", json_integer_value(ms));
        else
            fprintf(out, "%s-", i ? ", " : " ");
    }
    fprintf(out, " ms");
}

static void print_event(json_t *ev, FILE *out)
{
    const char *kind = str(ev, "kind");
    double t = json_number_value(json_object_get(ev, "t"));

    fprintf(out, "%8.1fs  ", t);
    if (strcmp(kind, "request") == 0) {
        fprintf(out, "-> %s %s  %lld", str(ev, "method"), str(ev, "url"),
                json_integer_value(json_object_get(ev, "status")));
        if (*str(ev, "content_type"))
            fprintf(out, " %s", str(ev, "content_type"));
        fprintf(out, "  %.1f ms", json_number_value(json_object_get(ev, "ms")));
        if (json_object_get(ev, "error_code"))
            fprintf(out, "  error %lld: %s", json_integer_value(json_object_get(ev, "error_code")),
                    str(ev, "error"));
    } else if (strcmp(kind, "say") == 0) {
        fprintf(out, "%s says", *str(ev, "speaker") ? str(ev, "speaker") : "app");
        if (*str(ev, "voice") || *str(ev, "language"))
            fprintf(out, " (%s%s%s)", str(ev, "voice"),
                    *str(ev, "voice") && *str(ev, "language") ? ", " : "", str(ev, "language"));
        fprintf(out, ": \"%s\"", str(ev, "text"));
    } else if (strcmp(kind, "play") == 0) {
        if (*str(ev, "digits"))
            fprintf(out, "plays digits %s", str(ev, "digits"));
        else
            fprintf(out, "plays %s", str(ev, "url"));
    } else if (strcmp(kind, "pause") == 0) {
        fprintf(out, "pause %.0f s", json_number_value(json_object_get(ev, "seconds")));
    } else if (strcmp(kind, "gather") == 0) {
        fprintf(out, "gather (%s): ", str(ev, "input"));
        if (*str(ev, "digits") || json_object_get(ev, "digits"))
            fprintf(out, "caller presses %s", str(ev, "digits"));
        else if (*str(ev, "speech"))
            fprintf(out, "caller says \"%s\"", str(ev, "speech"));
        else if (*str(ev, "caller"))
            fprintf(out, "caller %s", str(ev, "caller"));
        else
            fprintf(out, "no input (timeout)%s%s", *str(ev, "ignored") ? ", ignored " : "",
                    str(ev, "ignored"));
    } else if (strcmp(kind, "dial") == 0) {
        json_t *targets = json_object_get(ev, "targets"), *tgt;
        size_t i;

        fprintf(out, "dial");
        json_array_foreach(targets, i, tgt)
            fprintf(out, " %s %s", str(tgt, "noun"), str(tgt, "to"));
        if (*str(ev, "caller_id"))
            fprintf(out, " (callerId %s)", str(ev, "caller_id"));
        fprintf(out, ": %s", str(ev, "outcome"));
    } else if (strcmp(kind, "record") == 0) {
        if (json_object_get(ev, "empty"))
            fprintf(out, "record: nothing recorded");
        else
            fprintf(out, "record %.0f s, ended by %s (%s)",
                    json_number_value(json_object_get(ev, "seconds")), str(ev, "ended_by"),
                    str(ev, "recording_sid"));
    } else if (strcmp(kind, "callback") == 0) {
        fprintf(out, "callback %s %s -> %lld", str(ev, "event"), str(ev, "sequence"),
                json_integer_value(json_object_get(ev, "status")));
    } else if (strcmp(kind, "stream") == 0) {
        fprintf(out, "stream %s: %s", str(ev, "url"), str(ev, "summary"));
        print_voice_to_voice(json_object_get(ev, "voice_to_voice_ms"), out);
    } else if (strcmp(kind, "stream-event") == 0) {
        fprintf(out, "stream %s", str(ev, "event"));
        if (*str(ev, "detail"))
            fprintf(out, ": %s", str(ev, "detail"));
    } else if (strcmp(kind, "relay") == 0) {
        if (strcmp(str(ev, "event"), "session") == 0)
            fprintf(out, "relay %s: %s", str(ev, "url"), str(ev, "detail"));
        else if (strcmp(str(ev, "event"), "connected") == 0)
            fprintf(out, "relay connected to %s", str(ev, "detail"));
        else if (strcmp(str(ev, "event"), "end") == 0)
            fprintf(out, "relay: the app ends the session, handoffData %s",
                    *str(ev, "detail") ? str(ev, "detail") : "(none)");
        else
            fprintf(out, "relay %s: %s", str(ev, "event"), str(ev, "detail"));
    } else if (strcmp(kind, "caller") == 0) {
        if (json_object_get(ev, "presses"))
            fprintf(out, "caller presses %s", str(ev, "presses"));
        else
            fprintf(out, "caller says \"%s\" (%s)", str(ev, "says"), str(ev, "language"));
    } else if (strcmp(kind, "interrupt") == 0) {
        fprintf(out, "caller interrupts after %.1f s, having heard \"%s\"",
                json_number_value(json_object_get(ev, "ms")) / 1000.0, str(ev, "heard"));
    } else if (strcmp(kind, "language") == 0) {
        fprintf(out, "language: speech %s, transcription %s", str(ev, "tts"),
                str(ev, "transcription"));
    } else if (strcmp(kind, "error") == 0 || strcmp(kind, "warning") == 0) {
        fprintf(out, "%s", kind);
        if (json_object_get(ev, "code"))
            fprintf(out, " %lld", json_integer_value(json_object_get(ev, "code")));
        if (json_integer_value(json_object_get(ev, "line")))
            fprintf(out, " (line %lld)", json_integer_value(json_object_get(ev, "line")));
        fprintf(out, ": %s", *str(ev, "message") ? str(ev, "message") : str(ev, "verb"));
    } else if (strcmp(kind, "redirect") == 0 && *str(ev, "url")) {
        fprintf(out, "redirect %s %s", str(ev, "method"), str(ev, "url"));
    } else if (strcmp(kind, "end") == 0) {
        fprintf(out, "call ends (%s)",
                strcmp(str(ev, "by"), "caller") == 0 ? "caller hung up" : "end of TwiML");
    } else {
        const char *detail = *str(ev, "verb")     ? str(ev, "verb")
                             : *str(ev, "reason") ? str(ev, "reason")
                             : *str(ev, "queue")  ? str(ev, "queue")
                                                  : str(ev, "noun");

        fprintf(out, "%s %s", kind, detail);
    }
    fputc('\n', out);
}

void sim_transcript_print(const struct sim_call_result *res, FILE *out)
{
    size_t i;
    json_t *ev;

    fprintf(out, "call %s\n", res->call_sid);
    json_array_foreach(res->events, i, ev) print_event(ev, out);
    fprintf(out, "%s: call %s after %.0f s, %d document%s%s%s\n", res->ok ? "ok" : "FAILED",
            res->status, res->duration_s, res->documents, res->documents == 1 ? "" : "s",
            res->ok ? "" : " - ", res->ok ? "" : res->error);
}

void sim_transcript_print_json(const struct sim_call_result *res, FILE *out)
{
    json_t *doc = json_pack("{s:b, s:s, s:s, s:f, s:i, s:O}", "ok", res->ok, "call_sid",
                            res->call_sid, "status", res->status, "duration", res->duration_s,
                            "documents", res->documents, "events", res->events);

    if (!res->ok) {
        json_object_set_new(doc, "error", json_string(res->error));
        if (res->error_code)
            json_object_set_new(doc, "error_code", json_integer(res->error_code));
    }
    json_dumpf(doc, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(doc);
}
