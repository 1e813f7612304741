/*
 * The caller's script for a simulated call: one action per line, consumed in
 * order wherever the call asks the caller for something (a <Gather>, a
 * <Dial>'s callee, a <Record>, a media stream). Documented in docs/sim.md.
 *
 *   press 1#              keys for the next <Gather> (or DTMF in a stream)
 *   say I need a person   speech for the next <Gather> (or spoken in a stream)
 *   say-over Wait, stop   the same as say, written where the caller talks over the agent
 *   silence               no input at the next <Gather>
 *   dial answer 30        the next <Dial>: answer (and talk N s), busy, no-answer, failed
 *   record 12 #           the next <Record>: N s of audio, ended by a key, 'hangup' or nothing
 *   play caller.wav       spoken in a stream: a WAV file
 *   wait 2                stay silent N seconds (streams)
 *   noise 3 -30           white noise for N seconds at a level in dBFS, default -20 (streams;
 *                         elsewhere a wait: a SIM_WAIT action with `noise` set)
 *   listen                wait until the agent has finished speaking (streams)
 *   hangup                the caller hangs up at the next point that waits on them
 *   expect say Welcome    the next thing said contains this text (else the run fails)
 *   expect dial +1555...  the next <Dial> calls this target
 *   expect hangup         the call ends here
 */
#ifndef SB_SIM_SCRIPT_H
#define SB_SIM_SCRIPT_H

#include <stddef.h>

#include "core/err.h"

enum sim_action_kind {
    SIM_PRESS,
    SIM_SAY,
    SIM_SILENCE,
    SIM_DIAL,
    SIM_RECORD,
    SIM_PLAY,
    SIM_WAIT,
    SIM_LISTEN,
    SIM_HANGUP,
    SIM_EXPECT_SAY,
    SIM_EXPECT_DIAL,
    SIM_EXPECT_HANGUP,
};

/* noise: the longest, and the level without one (RMS, dBFS), the quietest and the loudest. */
#define SIM_NOISE_MAX_SECONDS 120
#define SIM_NOISE_DEFAULT_DBFS (-20.0)
#define SIM_NOISE_MIN_DBFS (-90.0)
#define SIM_NOISE_MAX_DBFS 0.0

enum sim_dial_outcome { SIM_DIAL_ANSWER, SIM_DIAL_BUSY, SIM_DIAL_NO_ANSWER, SIM_DIAL_FAILED };

struct sim_action {
    enum sim_action_kind kind;
    char *text;     /* press: keys; say/expect: text; play: path; record: ending key or "hangup" */
    double seconds; /* dial answer, record, wait (and noise) */
    enum sim_dial_outcome dial;
    /*
     * noise is a SIM_WAIT with `noise` set: in a media stream the caller's
     * line carries white noise at `level` dBFS instead of silence; anywhere
     * else it is a wait (a ConversationRelay session hears no noise).
     */
    int noise;
    double level;
    int line;
};

struct sim_script {
    struct sim_action *actions;
    size_t count;
    size_t next; /* the first action not yet consumed */
};

#define SIM_SCRIPT_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/**
 * Parses script text. Blank lines and '#' comments (at the start of a line)
 * are skipped. On error returns SB_EPARSE and writes "line N: ..." to `err`.
 */
SB_MUST_CHECK int sim_script_parse(struct sim_script *s, const char *text, char *err,
                                   size_t errlen);

/** Reads and parses a script file. Errors name the file and line. */
SB_MUST_CHECK int sim_script_load(struct sim_script *s, const char *path, char *err, size_t errlen);

/** The next action without consuming it, or NULL at the end. */
const struct sim_action *sim_script_peek(const struct sim_script *s);

/** Consumes and returns the next action, or NULL at the end. */
const struct sim_action *sim_script_take(struct sim_script *s);

/** Frees the script. */
void sim_script_release(struct sim_script *s);

#endif
