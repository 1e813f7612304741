/*
 * The isolated engine (see tts.h): a pool of synthesizer children, one per
 * slot. A request holds its slot from start to end, so a child is only ever
 * talked to by one thread; the engine's mutex guards which slots are busy
 * and their pids. Children are spawned by one thread the engine owns,
 * because PR_SET_PDEATHSIG fires when the *thread* that created a child
 * ends, and the threads that ask for speech may come and go.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/log.h"
#include "speech/resample.h"
#include "speech/tts.h"
#include "speech/tts_proto.h"
#include "core/banned.h"

extern char **environ;

/* How long a child may take to start (espeak-ng loads its data) before it counts as failed. */
#define START_DEADLINE_MS 10000
/* How long release waits for a child to leave after its channel closed, before SIGKILL. */
#define EXIT_GRACE_MS 2000

static const char apology_es[] =
    "Lo siento, ahora no puedo responder. Inténtelo de nuevo, por favor.";
static const char apology_en[] = "Sorry, I cannot answer right now. Please try again.";

struct slot {
    pid_t pid; /* 0 while no child runs (guarded by iso.lock for readers) */
    int fd;    /* the parent's end of the channel, O_CLOEXEC; -1 without a child */
    int busy;  /* taken by a request (guarded by iso.lock) */
};

/* An apology, synthesized once at start and read-only afterwards. */
struct apology {
    int16_t *pcm;
    size_t n;
    int rate;
};

/* A spawn handed to the spawner thread; lives on the asking thread's stack. */
struct spawn_req {
    struct spawn_req *next;
    pid_t pid;
    int fd;
    int rc;
    int done;
};

struct iso {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* a slot became free */
    struct slot slots[TTS_ISOLATED_MAX_WORKERS];
    unsigned nslots;
    unsigned next; /* where take_slot starts looking (guarded by lock) */
    char *path;    /* the program to run, owned */
    char **argv;   /* owned copy, NULL-terminated */
    int deadline_ms;
    struct apology sorry_es, sorry_en;

    pthread_t spawner;
    int spawner_started;
    pthread_mutex_t spawn_lock;
    pthread_cond_t spawn_wake; /* a request arrived, or stop */
    pthread_cond_t spawn_done; /* a request was served */
    struct spawn_req *spawn_queue;
    int spawn_stop;
};

/* Starts one child on a new socket pair. Runs on the spawner thread only. */
static int spawn_child(struct iso *e, pid_t *pid, int *fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int sv[2];
    int rc;

    *pid = 0;
    *fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return SB_EIO;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* The server ignores SIGPIPE and its threads may block signals: a child starts clean. */
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    /* dup2 onto 0 clears O_CLOEXEC: the child's end is the only descriptor it inherits. */
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    rc = posix_spawn(pid, e->path, &fa, &attr, e->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
        *pid = 0;
        close(sv[0]);
        return SB_EIO;
    }
    *fd = sv[0];
    return 0;
}

static void *spawner_main(void *arg)
{
    struct iso *e = arg;
    struct spawn_req *r;

    pthread_mutex_lock(&e->spawn_lock);
    for (;;) {
        while (!e->spawn_queue && !e->spawn_stop)
            pthread_cond_wait(&e->spawn_wake, &e->spawn_lock);
        r = e->spawn_queue;
        if (!r)
            break;
        e->spawn_queue = r->next;
        pthread_mutex_unlock(&e->spawn_lock);
        r->rc = spawn_child(e, &r->pid, &r->fd);
        pthread_mutex_lock(&e->spawn_lock);
        r->done = 1;
        pthread_cond_broadcast(&e->spawn_done);
    }
    pthread_mutex_unlock(&e->spawn_lock);
    return NULL;
}

/* Asks the spawner thread for a child and waits for it. */
static int spawn_via_thread(struct iso *e, pid_t *pid, int *fd)
{
    struct spawn_req r = {NULL, 0, -1, 0, 0};

    pthread_mutex_lock(&e->spawn_lock);
    r.next = e->spawn_queue;
    e->spawn_queue = &r;
    pthread_cond_signal(&e->spawn_wake);
    while (!r.done)
        pthread_cond_wait(&e->spawn_done, &e->spawn_lock);
    pthread_mutex_unlock(&e->spawn_lock);
    *pid = r.pid;
    *fd = r.fd;
    return r.rc;
}

/* Reaps the child of `s` (killing it first when `kill_it`), logs how it ended, empties `s`. */
static void end_child(struct iso *e, struct slot *s, int kill_it, const char *why)
{
    pid_t pid = s->pid;
    int status = 0;
    pid_t got;

    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (pid <= 0)
        return;
    if (kill_it)
        kill(pid, SIGKILL);
    do
        got = waitpid(pid, &status, 0);
    while (got < 0 && errno == EINTR);
    pthread_mutex_lock(&e->lock);
    s->pid = 0;
    pthread_mutex_unlock(&e->lock);
    if (!why)
        return;
    if (got == pid && WIFSIGNALED(status))
        log_event(LOG_ERROR, "tts.worker_died", "pid=%d signal=%d reason=%s", (int)pid,
                  WTERMSIG(status), why);
    else
        log_event(LOG_ERROR, "tts.worker_died", "pid=%d exit=%d reason=%s", (int)pid,
                  got == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
}

/* Starts a child in the empty slot `s` and waits for its hello. */
static int start_child(struct iso *e, struct slot *s)
{
    uint32_t hello = 0;
    pid_t pid;
    int fd, rc;

    rc = spawn_via_thread(e, &pid, &fd);
    if (rc)
        return rc;
    pthread_mutex_lock(&e->lock);
    s->pid = pid;
    s->fd = fd;
    pthread_mutex_unlock(&e->lock);
    rc = tts_proto_recv(fd, &hello, sizeof(hello), clock_mono_ms() + START_DEADLINE_MS);
    if (rc || hello != TTS_PROTO_HELLO) {
        end_child(e, s, 1, "start");
        return SB_EIO;
    }
    return 0;
}

/*
 * Takes a free slot, waiting while every slot is busy. The search starts
 * after the slot taken last, so that requests take turns: a child that died
 * while idle is found by the next requests, not left for a busy day.
 */
static struct slot *take_slot(struct iso *e)
{
    struct slot *s = NULL;

    pthread_mutex_lock(&e->lock);
    for (;;) {
        for (unsigned k = 0; k < e->nslots && !s; k++) {
            unsigned i = (e->next + k) % e->nslots;

            if (!e->slots[i].busy)
                s = &e->slots[i];
        }
        if (s)
            break;
        pthread_cond_wait(&e->freed, &e->lock);
    }
    s->busy = 1;
    e->next = (unsigned)(s - e->slots + 1) % e->nslots;
    pthread_mutex_unlock(&e->lock);
    return s;
}

static void give_slot(struct iso *e, struct slot *s)
{
    pthread_mutex_lock(&e->lock);
    s->busy = 0;
    pthread_cond_signal(&e->freed);
    pthread_mutex_unlock(&e->lock);
}

/*
 * One request over the channel of `s`. Returns 0 when the child answered
 * (its own result is in *answer, its reason in `err`), or the transport's
 * failure: SB_EIO (the child is gone or spoke nonsense), SB_EBUSY (deadline).
 */
static int exchange(struct iso *e, struct slot *s, const char *text, const char *lang,
                    const char *voice, int16_t **pcm, size_t *n, int *rate, int *answer, char *err,
                    size_t errsize)
{
    long long deadline = clock_mono_ms() + e->deadline_ms;
    struct tts_proto_request req = {TTS_PROTO_REQUEST, 0, 0, 0};
    struct tts_proto_reply rep;
    char reason[TTS_PROTO_REASON_MAX + 1];
    int16_t *samples = NULL;
    int rc;

    req.lang_len = lang ? (uint32_t)strlen(lang) : 0;
    req.voice_len = voice ? (uint32_t)strlen(voice) : 0;
    req.text_len = (uint32_t)strlen(text);
    rc = tts_proto_send(s->fd, &req, sizeof(req), deadline);
    if (!rc && req.lang_len)
        rc = tts_proto_send(s->fd, lang, req.lang_len, deadline);
    if (!rc && req.voice_len)
        rc = tts_proto_send(s->fd, voice, req.voice_len, deadline);
    if (!rc)
        rc = tts_proto_send(s->fd, text, req.text_len, deadline);
    if (!rc)
        rc = tts_proto_recv(s->fd, &rep, sizeof(rep), deadline);
    if (rc)
        return rc == SB_EBUSY ? SB_EBUSY : SB_EIO;
    if (rep.magic != TTS_PROTO_REPLY || rep.reason_len > TTS_PROTO_REASON_MAX || rep.rc > 0 ||
        rep.samples > (uint64_t)TTS_MAX_SECONDS * SPEECH_RATE_MAX)
        return SB_EIO;
    rc = tts_proto_recv(s->fd, reason, rep.reason_len, deadline);
    if (rc)
        return rc == SB_EBUSY ? SB_EBUSY : SB_EIO;
    reason[rep.reason_len] = '\0';
    if (rep.samples) {
        samples = malloc((size_t)rep.samples * sizeof(*samples));
        if (!samples) {
            /* The reply must still be read off the channel: drop the child instead. */
            return SB_EIO;
        }
        rc = tts_proto_recv(s->fd, samples, (size_t)rep.samples * sizeof(*samples), deadline);
        if (rc) {
            free(samples);
            return rc == SB_EBUSY ? SB_EBUSY : SB_EIO;
        }
    }
    *answer = rep.rc;
    if (rep.rc) {
        sb_set_error(err, errsize, "%s", reason);
        free(samples);
        return 0;
    }
    *pcm = samples;
    *n = (size_t)rep.samples;
    *rate = rep.rate;
    return 0;
}

/* A copy of the apology for `lang`. */
static int apologize(const struct iso *e, const char *lang, int16_t **pcm, size_t *n, int *rate,
                     char *err, size_t errsize)
{
    const struct apology *a = lang_same_base(lang, "es") ? &e->sorry_es : &e->sorry_en;

    if (!a->pcm || a->n == 0) {
        sb_set_error(err, errsize, "the speech synthesizer failed twice");
        return SB_EIO;
    }
    *pcm = malloc(a->n * sizeof(**pcm));
    if (!*pcm) {
        sb_set_error(err, errsize, "out of memory for the apology");
        return SB_ENOMEM;
    }
    memcpy(*pcm, a->pcm, a->n * sizeof(**pcm));
    *n = a->n;
    *rate = a->rate;
    return 0;
}

/* Starts a child in the empty slot `s` after a death, and says so. */
static void restart_child(struct iso *e, struct slot *s)
{
    if (start_child(e, s) == 0)
        log_event(LOG_WARN, "tts.worker_restarted", "pid=%d slot=%d", (int)s->pid,
                  (int)(s - e->slots));
}

/*
 * Synthesizes in slot `s`. A child that fails is replaced at once, so the
 * slot is ready for the next request, and the request is tried once more.
 */
static int synth_in_slot(struct iso *e, struct slot *s, const char *text, const char *lang,
                         const char *voice, int16_t **pcm, size_t *n, int *rate, char *err,
                         size_t errsize, int *children_failed)
{
    int answer = 0;
    int rc = SB_EIO;

    *children_failed = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        /* A restart that failed earlier is tried again here. */
        if (s->pid <= 0)
            restart_child(e, s);
        if (s->pid <= 0) {
            rc = SB_EIO;
            continue;
        }
        rc = exchange(e, s, text, lang, voice, pcm, n, rate, &answer, err, errsize);
        if (rc == 0)
            return answer;
        end_child(e, s, 1, rc == SB_EBUSY ? "deadline" : "channel");
        restart_child(e, s);
    }
    *children_failed = 1;
    return rc;
}

static int iso_synth(void *engine, const char *text, const char *lang, const char *voice,
                     int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    struct iso *e = engine;
    struct slot *s;
    int children_failed = 0;
    int rc;

    *pcm = NULL;
    *n = 0;
    *rate = 0;
    if (!text || !*text) {
        sb_set_error(err, errsize, "nothing to say: the text is empty");
        return SB_EINVAL;
    }
    if (strlen(text) > TTS_PROTO_TEXT_MAX) {
        sb_set_error(err, errsize, "text over %u bytes", TTS_PROTO_TEXT_MAX);
        return SB_ETOOBIG;
    }
    if ((lang && strlen(lang) > TTS_PROTO_TAG_MAX) ||
        (voice && strlen(voice) > TTS_PROTO_TAG_MAX)) {
        sb_set_error(err, errsize, "language or voice name too long");
        return SB_EINVAL;
    }
    s = take_slot(e);
    rc = synth_in_slot(e, s, text, lang, voice, pcm, n, rate, err, errsize, &children_failed);
    give_slot(e, s);
    /* Errors the engine itself answered (unknown language...) are the caller's to see. */
    if (children_failed)
        rc = apologize(e, lang, pcm, n, rate, err, errsize);
    return rc;
}

static void iso_release(void *engine)
{
    struct iso *e = engine;
    long long deadline = clock_mono_ms() + EXIT_GRACE_MS;

    if (!e)
        return;
    /* Closing the channels first lets every child leave at once. */
    for (unsigned i = 0; i < e->nslots; i++) {
        if (e->slots[i].fd >= 0)
            close(e->slots[i].fd);
        e->slots[i].fd = -1;
    }
    for (unsigned i = 0; i < e->nslots; i++) {
        pid_t pid = e->slots[i].pid;

        if (pid <= 0)
            continue;
        while (waitpid(pid, NULL, WNOHANG) == 0) {
            if (clock_mono_ms() >= deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                break;
            }
            usleep(5000);
        }
        e->slots[i].pid = 0;
    }
    if (e->spawner_started) {
        pthread_mutex_lock(&e->spawn_lock);
        e->spawn_stop = 1;
        pthread_cond_signal(&e->spawn_wake);
        pthread_mutex_unlock(&e->spawn_lock);
        pthread_join(e->spawner, NULL);
    }
    for (size_t i = 0; e->argv && e->argv[i]; i++)
        free(e->argv[i]);
    free(e->argv);
    free(e->path);
    free(e->sorry_es.pcm);
    free(e->sorry_en.pcm);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->freed);
    pthread_mutex_destroy(&e->spawn_lock);
    pthread_cond_destroy(&e->spawn_wake);
    pthread_cond_destroy(&e->spawn_done);
    free(e);
}

const struct tts_ops tts_isolated_ops = {
    .name = "flite+espeak-ng (isolated)",
    .synth = iso_synth,
    .release = iso_release,
};

static int copy_argv(struct iso *e, const char *const *argv)
{
    static const char *const self[] = {"switchboard", TTS_WORKER_COMMAND, NULL};
    char exe[PATH_MAX];
    ssize_t len;
    size_t count = 0;

    /*
     * This executable by its name, which tools that run it (valgrind) can
     * follow into the children; /proc/self/exe itself when the file is gone.
     */
    len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[len > 0 ? len : 0] = '\0';
    if (len <= 0 || strstr(exe, " (deleted)") || access(exe, X_OK) != 0)
        snprintf(exe, sizeof(exe), "/proc/self/exe");
    e->path = strdup(argv ? argv[0] ? argv[0] : "" : exe);
    if (!e->path)
        return SB_ENOMEM;
    if (!argv)
        argv = self;
    while (argv[count])
        count++;
    if (count == 0)
        return SB_EINVAL;
    e->argv = calloc(count + 1, sizeof(*e->argv));
    if (!e->argv)
        return SB_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        e->argv[i] = strdup(argv[i]);
        if (!e->argv[i])
            return SB_ENOMEM;
    }
    return 0;
}

/* Synthesizes an apology through slot 0 (no apology to fall back on yet). */
static int prepare_apology(struct iso *e, const char *text, const char *lang, struct apology *a,
                           char *err, size_t errsize)
{
    int answer = 0;
    int rc;

    rc = exchange(e, &e->slots[0], text, lang, NULL, &a->pcm, &a->n, &a->rate, &answer, err,
                  errsize);
    if (rc) {
        sb_set_error(err, errsize, "the speech synthesizer child failed at start");
        return SB_EIO;
    }
    if (answer)
        return answer;
    if (!a->pcm || a->n == 0 || a->rate < SPEECH_RATE_MIN) {
        sb_set_error(err, errsize, "the speech synthesizer child returned no apology");
        return SB_EIO;
    }
    return 0;
}

int tts_isolated_init(struct tts *t, const char *const *argv, unsigned workers, int deadline_ms,
                      char *err, size_t errsize)
{
    struct iso *e;
    int rc;

    t->ops = NULL;
    t->engine = NULL;
    if (workers < 1 || workers > TTS_ISOLATED_MAX_WORKERS || deadline_ms < 0) {
        sb_set_error(err, errsize, "1 to %d synthesizer children, and a deadline of 0 or more",
                     TTS_ISOLATED_MAX_WORKERS);
        return SB_EINVAL;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        sb_set_error(err, errsize, "out of memory");
        return SB_ENOMEM;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->freed, NULL);
    pthread_mutex_init(&e->spawn_lock, NULL);
    pthread_cond_init(&e->spawn_wake, NULL);
    pthread_cond_init(&e->spawn_done, NULL);
    e->nslots = workers;
    e->deadline_ms = deadline_ms ? deadline_ms : TTS_ISOLATED_DEADLINE_MS;
    for (unsigned i = 0; i < workers; i++)
        e->slots[i].fd = -1;
    rc = copy_argv(e, argv);
    if (rc) {
        sb_set_error(err, errsize, rc == SB_ENOMEM ? "out of memory" : "no worker program");
        goto fail;
    }
    if (pthread_create(&e->spawner, NULL, spawner_main, e) != 0) {
        sb_set_error(err, errsize, "cannot start the synthesizer spawner thread");
        rc = SB_EIO;
        goto fail;
    }
    e->spawner_started = 1;
    for (unsigned i = 0; i < workers; i++) {
        rc = start_child(e, &e->slots[i]);
        if (rc) {
            sb_set_error(err, errsize, "cannot start speech synthesizer child %s %s", e->path,
                         e->argv[1] ? e->argv[1] : "");
            goto fail;
        }
    }
    rc = prepare_apology(e, apology_es, "es", &e->sorry_es, err, errsize);
    if (!rc)
        rc = prepare_apology(e, apology_en, "en-US", &e->sorry_en, err, errsize);
    if (rc)
        goto fail;
    t->ops = &tts_isolated_ops;
    t->engine = e;
    return 0;
fail:
    iso_release(e);
    return rc;
}

size_t tts_isolated_pids(const struct tts *t, int *pids, size_t max)
{
    struct iso *e;
    size_t count;

    if (!t || t->ops != &tts_isolated_ops || !t->engine)
        return 0;
    e = t->engine;
    pthread_mutex_lock(&e->lock);
    count = e->nslots;
    for (size_t i = 0; i < count && i < max; i++)
        pids[i] = (int)e->slots[i].pid;
    pthread_mutex_unlock(&e->lock);
    return count;
}
