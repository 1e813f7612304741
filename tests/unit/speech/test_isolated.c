/*
 * Tests for the isolated engine: speech from child processes, a child
 * killed mid-phrase (retried), one that always dies or hangs (apology),
 * and many threads at once while children are being killed.
 *
 * The children are this test program itself: main() below answers
 * `__tts-worker` with the real worker, and `__tts-worker-faulty` with a
 * worker whose engine dies, hangs or dawdles on marked texts. So under
 * AddressSanitizer the children are sanitized too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/phone.h"
#include "speech/tts.h"

#define FAULTY_COMMAND "__tts-worker-faulty"

static const char *const real_argv[] = {"/proc/self/exe", TTS_WORKER_COMMAND, NULL};
static const char *const faulty_argv[] = {"/proc/self/exe", FAULTY_COMMAND, NULL};

static const char hours_es[] = "Abrimos de lunes a viernes, de nueve de la mañana a cinco de la "
                               "tarde. ¿En qué más puedo ayudarle?";
static const char hours_en[] = "We are open Monday to Friday, from nine in the morning to five in "
                               "the afternoon. What else can I do for you?";

/* --- the faulty worker (runs in a child) ---------------------------------- */

static struct tts faulty_inner = TTS_INIT;

/* "crash me" dies, "hang me" never answers, "[slow]" waits 300 ms first; the rest is espeak-ng. */
static int faulty_synth(void *engine, const char *text, const char *lang, const char *voice,
                        int16_t **pcm, size_t *n, int *rate, char *err, size_t errsize)
{
    if (strstr(text, "crash me"))
        kill(getpid(), SIGKILL);
    if (strstr(text, "hang me")) {
        for (;;)
            pause();
    }
    if (strncmp(text, "[slow]", 6) == 0) {
        usleep(300 * 1000);
        text += 6;
    }
    return faulty_inner.ops->synth(faulty_inner.engine, text, lang, voice, pcm, n, rate, err,
                                   errsize);
}

static const struct tts_ops faulty_ops = {"faulty", faulty_synth, NULL};

int main(int argc, char *argv[])
{
    struct criterion_test_set *tests;
    int result = 0;

    if (argc == 2 && strcmp(argv[1], TTS_WORKER_COMMAND) == 0)
        return tts_worker_main(NULL);
    if (argc == 2 && strcmp(argv[1], FAULTY_COMMAND) == 0) {
        struct tts faulty = {&faulty_ops, NULL};

        if (tts_espeak_init(&faulty_inner, NULL, 0))
            return 1;
        return tts_worker_main(&faulty);
    }
    tests = criterion_initialize();
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}

/* --- helpers -------------------------------------------------------------- */

static void start(struct tts *t, const char *const *argv, unsigned workers, int deadline_ms)
{
    char err[256] = "";

    /* Criterion's sandbox finds this test's process through it: a child must not see it. */
    unsetenv("BXFI_MAP");
    cr_assert_eq(tts_isolated_init(t, argv, workers, deadline_ms, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(t->ops, &tts_isolated_ops);
}

/* Seconds of speech for `text`; fails the test on an error or silence. */
static double speak(struct tts *t, const char *text, const char *lang)
{
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0;
    char err[256] = "";
    int rc;

    rc = tts_synth(t, text, lang, NULL, &pcm, &n, &rate, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s (%s): %s", text, lang, err);
    cr_assert_gt(n, 0);
    cr_assert_gt(rate, 0);
    free(pcm);
    return (double)n / rate;
}

/* The pid of slot 0, which must have a child. */
static pid_t slot_pid(const struct tts *t)
{
    int pids[TTS_ISOLATED_MAX_WORKERS] = {0};

    cr_assert_geq(tts_isolated_pids(t, pids, TTS_ISOLATED_MAX_WORKERS), 1);
    cr_assert_gt(pids[0], 0);
    return pids[0];
}

/* True once `pid` is gone and reaped: a zombie still answers kill(pid, 0). */
static int reaped(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* --- tests ---------------------------------------------------------------- */

Test(isolated, speaks_english_and_spanish_from_children)
{
    struct tts t = TTS_INIT;
    int pids[TTS_ISOLATED_MAX_WORKERS] = {0};
    unsigned char *mulaw = NULL;
    size_t len = 0;
    char err[256] = "";

    start(&t, real_argv, 2, 0);
    cr_assert_eq(tts_isolated_pids(&t, pids, TTS_ISOLATED_MAX_WORKERS), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_gt(pids[i], 0);
        cr_assert_neq(pids[i], getpid());
    }
    cr_assert_neq(pids[0], pids[1]);
    /* The hours in both languages: about eight seconds each. */
    cr_assert(speak(&t, hours_en, "en-US") > 4.0);
    cr_assert(speak(&t, hours_es, "es-MX") > 4.0);
    cr_assert(speak(&t, "¡Hola! ¿Señor Núñez? Gracias.", "es") > 1.0);
    cr_assert_eq(tts_synth_mulaw(&t, "Gracias por llamar a Acme.", "es-MX", NULL, &mulaw, &len, err,
                                 sizeof(err)),
                 0, "%s", err);
    cr_assert_gt(len, PHONE_RATE / 2);
    free(mulaw);
    /* What the engine itself refuses comes back with its reason, and the child lives on. */
    cr_assert_eq(tts_synth_mulaw(&t, "hello", "xx-nope", NULL, &mulaw, &len, err, sizeof(err)),
                 SB_EINVAL);
    cr_assert(strstr(err, "xx-nope"), "%s", err);
    cr_assert_eq(slot_pid(&t), pids[0]);
    tts_release(&t);
    cr_assert(reaped(pids[0]) && reaped(pids[1]), "children left behind");
    cr_assert_null(t.ops);
}

Test(isolated, a_program_that_is_no_worker_fails_the_start)
{
    static const char *const not_a_worker[] = {"/bin/true", NULL};
    struct tts t = TTS_INIT;
    char err[256] = "";

    unsetenv("BXFI_MAP");
    cr_assert_eq(tts_isolated_init(&t, not_a_worker, 2, 0, err, sizeof(err)), SB_EIO);
    cr_assert(strstr(err, "/bin/true"), "%s", err);
    cr_assert_null(t.ops);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
    cr_assert_eq(tts_isolated_init(&t, real_argv, 0, 0, err, sizeof(err)), SB_EINVAL);
    cr_assert_eq(
        tts_isolated_init(&t, real_argv, TTS_ISOLATED_MAX_WORKERS + 1, 0, err, sizeof(err)),
        SB_EINVAL);
}

struct long_job {
    struct tts *t;
    const char *text;
    double seconds;
};

static void *long_speech(void *arg)
{
    struct long_job *j = arg;

    j->seconds = speak(j->t, j->text, "es-MX");
    return NULL;
}

Test(isolated, a_child_killed_mid_phrase_is_restarted_and_the_phrase_retried)
{
    struct tts t = TTS_INIT;
    struct long_job job;
    pthread_t th;
    pid_t before, after;

    start(&t, faulty_argv, 1, 0);
    before = slot_pid(&t);
    /* The child waits 300 ms before it speaks: the kill lands inside the request. */
    job = (struct long_job){&t,
                            "[slow]Abrimos de lunes a viernes, de nueve de la mañana a cinco "
                            "de la tarde. ¿En qué más puedo ayudarle?",
                            0};
    cr_assert_eq(pthread_create(&th, NULL, long_speech, &job), 0);
    usleep(100 * 1000);
    cr_assert_eq(kill(before, SIGKILL), 0);
    pthread_join(th, NULL);
    /* The whole phrase (about eight seconds), not the three-second apology. */
    cr_assert(job.seconds > 5.0, "%.2f s", job.seconds);
    after = slot_pid(&t);
    cr_assert_neq(after, before);
    cr_assert(reaped(before), "the killed child is a zombie");
    cr_assert(speak(&t, "Thanks for calling Acme.", "en-US") > 0.5);
    cr_assert_eq(slot_pid(&t), after);
    tts_release(&t);
    cr_assert(reaped(after));
}

/* The apology for `lang` after a child died twice on `text`. */
static int16_t *failed_twice(struct tts *t, const char *text, const char *lang, size_t *n)
{
    int16_t *pcm = NULL;
    int rate = 0;
    char err[256] = "";
    pid_t before = slot_pid(t);

    cr_assert_eq(tts_synth(t, text, lang, NULL, &pcm, n, &rate, err, sizeof(err)), 0, "%s", err);
    cr_assert_gt(*n, (size_t)rate); /* over a second of speech */
    cr_assert(reaped(before));
    return pcm;
}

Test(isolated, a_child_dying_twice_gives_the_apology_in_the_callers_language)
{
    struct tts t = TTS_INIT;
    int16_t *es1, *es2, *en;
    size_t n_es1 = 0, n_es2 = 0, n_en = 0;

    start(&t, faulty_argv, 1, 0);
    es1 = failed_twice(&t, "Gracias, crash me", "es-MX", &n_es1);
    es2 = failed_twice(&t, "crash me otra vez", "es", &n_es2);
    en = failed_twice(&t, "crash me", "en-US", &n_en);
    /* One apology per language, synthesized once: the same samples every time. */
    cr_assert_eq(n_es1, n_es2);
    cr_assert_eq(memcmp(es1, es2, n_es1 * sizeof(*es1)), 0);
    cr_assert(n_en != n_es1 || memcmp(en, es1, n_en * sizeof(*en)) != 0);
    free(es1);
    free(es2);
    free(en);
    /* The slot has a fresh child that speaks. */
    cr_assert(speak(&t, hours_es, "es-MX") > 4.0);
    tts_release(&t);
}

Test(isolated, a_hung_child_is_killed_at_the_deadline)
{
    struct tts t = TTS_INIT;
    int16_t *pcm;
    size_t n = 0;

    start(&t, faulty_argv, 1, 500);
    pcm = failed_twice(&t, "please hang me", "en-US", &n);
    free(pcm);
    cr_assert(speak(&t, "Still here.", "en-US") > 0.3);
    tts_release(&t);
}

/* --- many at once ------------------------------------------------------- */

#define THREADS 8
#define PHRASES 6

static const struct {
    const char *text;
    const char *lang;
} phrases[] = {
    {hours_es, "es-MX"},
    {"Thanks for calling Acme.", "en-US"},
    {"Gracias por llamar a Acme. ¿En qué le puedo ayudar?", "es-MX"},
    {hours_en, "en-US"},
    {"¡Hola! Buenos días, señor Núñez. ¿Tiene reservas?", "es"},
    {"Lo siento, no hay nadie disponible. ¡Adiós!", "es-MX"},
    {"Please hold while I connect you with a person.", "en"},
};

struct stress {
    struct tts *t;
    int index;
    unsigned seed;
    int failures;
    int done;
};

static void *stress_thread(void *arg)
{
    struct stress *s = arg;

    for (int i = 0; i < PHRASES; i++) {
        size_t k = (size_t)(s->index * 3 + i) % (sizeof(phrases) / sizeof(phrases[0]));
        unsigned char *out = NULL;
        size_t len = 0;
        char err[256] = "";

        if (tts_synth_mulaw(s->t, phrases[k].text, phrases[k].lang, NULL, &out, &len, err,
                            sizeof(err)) != 0 ||
            len == 0)
            s->failures++;
        free(out);
        /* Some threads pause between replies, so the kills find children busy and idle. */
        if (s->index % 3 == 0)
            usleep((useconds_t)(rand_r(&s->seed) % 20000));
    }
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

Test(isolated, many_threads_while_children_are_killed, .timeout = 240)
{
    struct tts t = TTS_INIT;
    struct stress s[THREADS];
    pthread_t th[THREADS];
    int kills = 0;
    int running = 1;

    start(&t, real_argv, 2, 0);
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct stress){&t, i, (unsigned)i + 1, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, stress_thread, &s[i]), 0);
    }
    /*
     * Kill a child at once, then every 150 ms while the threads speak (the first kill
     * comes before any wait: on a fast machine the threads can finish within 150 ms).
     */
    while (running) {
        int pids[TTS_ISOLATED_MAX_WORKERS] = {0};

        running = 0;
        for (int i = 0; i < THREADS; i++)
            running |= !__atomic_load_n(&s[i].done, __ATOMIC_ACQUIRE);
        if ((running || kills == 0) && kills < 6 && tts_isolated_pids(&t, pids, 2) == 2 &&
            pids[kills % 2] > 0 && kill(pids[kills % 2], SIGKILL) == 0)
            kills++;
        if (running)
            usleep(150 * 1000);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(s[i].failures, 0, "thread %d: %d failures", i, s[i].failures);
    }
    cr_assert_gt(kills, 0);
    cr_assert(speak(&t, hours_es, "es-MX") > 4.0);
    tts_release(&t);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
}
