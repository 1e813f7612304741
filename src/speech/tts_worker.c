/*
 * A synthesizer child of the isolated engine, and the socket I/O both ends
 * share. The child is single-threaded: one request at a time, answered with
 * the in-process engine (flite for English, espeak-ng otherwise), so a crash in either ends this
 * process only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "speech/tts.h"
#include "speech/tts_proto.h"
#include "core/banned.h"

/* Waits until `fd` is ready for `events`. Returns 0, SB_EBUSY (deadline) or SB_EIO. */
static int wait_ready(int fd, short events, long long deadline_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    long long left;
    int rc;

    for (;;) {
        left = deadline_ms < 0 ? -1 : deadline_ms - clock_mono_ms();
        if (deadline_ms >= 0 && left <= 0)
            return SB_EBUSY;
        rc = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (rc > 0)
            return 0; /* readable, writable, or hung up: the I/O call tells which */
        if (rc < 0 && errno != EINTR)
            return SB_EIO;
    }
}

int tts_proto_send(int fd, const void *buf, size_t len, long long deadline_ms)
{
    const char *p = buf;
    ssize_t w;
    int rc;

    while (len > 0) {
        rc = wait_ready(fd, POLLOUT, deadline_ms);
        if (rc)
            return rc;
        w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return SB_EIO;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int tts_proto_recv(int fd, void *buf, size_t len, long long deadline_ms)
{
    char *p = buf;
    size_t got = 0;
    ssize_t r;
    int rc;

    while (got < len) {
        rc = wait_ready(fd, POLLIN, deadline_ms);
        if (rc)
            return rc;
        r = recv(fd, p + got, len - got, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return SB_EIO;
        }
        if (r == 0)
            return got == 0 ? SB_ECLOSED : SB_EIO;
        got += (size_t)r;
    }
    return 0;
}

/* Reads a string of `len` bytes into a new NUL-terminated buffer; NULL for 0 bytes. */
static int recv_string(int fd, uint32_t len, char **out)
{
    int rc;

    *out = NULL;
    if (len == 0)
        return 0;
    *out = malloc((size_t)len + 1);
    if (!*out)
        return SB_ENOMEM;
    rc = tts_proto_recv(fd, *out, len, -1);
    if (rc)
        return rc;
    (*out)[len] = '\0';
    /* A NUL inside would silently shorten the text: refuse it. */
    return memchr(*out, '\0', len) ? SB_EPARSE : 0;
}

/* Answers one request. Returns 0, SB_ECLOSED at the end of the input, or an error. */
static int serve_one(int fd, const struct tts *engine)
{
    struct tts_proto_request req;
    struct tts_proto_reply rep;
    char *lang = NULL, *voice = NULL, *text = NULL;
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0;
    char reason[TTS_PROTO_REASON_MAX] = "";
    int rc;

    rc = tts_proto_recv(fd, &req, sizeof(req), -1);
    if (rc)
        return rc;
    if (req.magic != TTS_PROTO_REQUEST || req.lang_len > TTS_PROTO_TAG_MAX ||
        req.voice_len > TTS_PROTO_TAG_MAX || req.text_len > TTS_PROTO_TEXT_MAX)
        return SB_EPARSE;
    rc = recv_string(fd, req.lang_len, &lang);
    if (!rc)
        rc = recv_string(fd, req.voice_len, &voice);
    if (!rc)
        rc = recv_string(fd, req.text_len, &text);
    if (rc)
        goto out;

    memset(&rep, 0, sizeof(rep));
    rep.magic = TTS_PROTO_REPLY;
    rep.rc = tts_synth(engine, text, lang, voice, &pcm, &n, &rate, reason, sizeof(reason));
    rep.rate = rate;
    rep.samples = rep.rc ? 0 : n;
    rep.reason_len = rep.rc ? (uint32_t)strlen(reason) : 0;
    rc = tts_proto_send(fd, &rep, sizeof(rep), -1);
    if (!rc && rep.reason_len)
        rc = tts_proto_send(fd, reason, rep.reason_len, -1);
    if (!rc && rep.samples)
        rc = tts_proto_send(fd, pcm, n * sizeof(*pcm), -1);
out:
    free(pcm);
    free(lang);
    free(voice);
    free(text);
    return rc;
}

int tts_worker_main(const struct tts *engine)
{
    struct tts own = TTS_INIT;
    const uint32_t hello = TTS_PROTO_HELLO;
    int fd, null, rc;

    /* The death signal first: a parent that died before it closed the channel, seen below. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Ctrl-C reaches the whole process group: the parent decides when its children end. */
    signal(SIGINT, SIG_IGN);
    fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return 1;
    null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    dup2(2, 1);
    if (!engine) {
        char err[256] = "";

        /* Without a hello the parent's start fails; the reason goes to the shared stderr. */
        if (tts_offline_init(&own, err, sizeof(err))) {
            fprintf(stderr, "error: text-to-speech: %s\n", err);
            close(fd);
            return 1;
        }
        engine = &own;
    }
    if (tts_proto_send(fd, &hello, sizeof(hello), -1))
        rc = SB_EIO;
    else
        do
            rc = serve_one(fd, engine);
        while (rc == 0);
    tts_release(&own);
    close(fd);
    return rc == SB_ECLOSED ? 0 : 1;
}
