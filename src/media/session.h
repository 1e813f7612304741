/*
 * One Media Stream: the conversation between a caller and an agent over
 * Twilio's WebSocket. The session parses Twilio's messages, feeds the
 * caller's audio to the voice activity detector, asks the agent what to say,
 * has it synthesized (asynchronously, through the io table), paces the audio
 * out in 20 ms frames with a mark after each utterance, stops talking the
 * moment the caller talks over it (barge-in: `clear`), and decides how the
 * call goes on when the stream ends (transfer or hang up).
 *
 * It does no I/O itself: the server gives it an io table and the time, so it
 * is tested without sockets. One thread (the event loop) owns a session.
 */
#ifndef SB_MEDIA_SESSION_H
#define SB_MEDIA_SESSION_H

#include <stddef.h>

#include "agent/agent.h"
#include "core/buf.h"
#include "core/phone.h"
#include "media/event.h"
#include "media/pacer.h"
#include "media/utterance.h"
#include "media/vad.h"

/* How the call goes on after the stream. */
enum session_outcome {
    SESSION_OPEN,     /* still running */
    SESSION_TRANSFER, /* the agent hands the caller to a person */
    SESSION_HANGUP,   /* the agent said goodbye */
    SESSION_STOPPED,  /* Twilio stopped the stream (the caller hung up) */
    SESSION_FAILED,   /* a protocol error closed it */
    SESSION_REPLACED, /* a newer stream for the same call took over */
};

struct session;

struct session_io {
    void *arg;
    /** Sends one text message on the socket. Returns 0 or a negative SB_E* code. */
    int (*send)(void *arg, const char *text, size_t len);
    /** Closes the socket after what was sent (1000 normal, 1011 error, 1008 policy). */
    void (*close)(void *arg, int code, const char *reason);
    /**
     * Starts synthesizing `text` for utterance `id`; its audio comes back
     * through session_audio (whole, or in pieces as a streaming engine makes
     * it), then session_audio_end (also when it failed). Returns 0, or an
     * error (the utterance is then skipped). May call session_audio and
     * session_audio_end before it returns (a cached phrase).
     */
    int (*synthesize)(void *arg, unsigned id, const char *text, const char *lang,
                      const char *voice);
    /** The start message arrived: the server looks up the call and calls session_begin. */
    void (*started)(void *arg, struct session *s, const struct media_event *start);
    /**
     * Recognises the caller's utterance `id` (8 kHz µ-law, `len` bytes; the
     * callee owns `mulaw` and frees it, whatever it returns); the words come
     * back through session_transcript. Returns 0 or an error (the utterance
     * then counts as speech without words). NULL: no recogniser; the agent
     * hears that the caller spoke, and talking over it stops it at once.
     */
    int (*recognize)(void *arg, unsigned id, unsigned char *mulaw, size_t len, const char *lang);
    /**
     * A line of the call's conversation: what the caller said (`agent` 0) or
     * a piece the agent says (`agent` 1), with `latency_ms` for the first
     * piece of a reply to the caller's words or keys (from the end of their
     * turn to the reply's first audio; -1 otherwise). The pieces of such a
     * reply are held until its first audio goes out, so that the first
     * carries its latency; they keep their order. NULL: not recorded.
     */
    void (*transcript)(void *arg, int agent, const char *text, long latency_ms);
    /**
     * A streaming recogniser hears the caller as they speak: each piece of
     * the current utterance as it is collected (`start` 1 for its first
     * piece: the lead-in and the first speech frame). `recognize` then asks
     * for the words of what was heard so far (the engine finalizes). NULL:
     * the recogniser gets only whole utterances.
     */
    void (*hear)(void *arg, const unsigned char *mulaw, size_t len, int start);
};

/* What the recogniser made of an utterance. */
enum session_heard {
    SESSION_HEARD_WORDS,       /* words: a turn (or a backchannel while the agent talks) */
    SESSION_HEARD_NOTHING,     /* no words it could tell (noise, or not in its grammar) */
    SESSION_HEARD_UNSUPPORTED, /* the call's language is not one it recognises */
    SESSION_HEARD_GUESS,       /* words it is not sure of (pocketsphinx's free-form guess at speech
                                  outside its grammar): the caller's turn when the agent is
                                  silent, never a reason to stop it */
};

/*
 * Talking over the agent stops it at once without a recogniser; with one,
 * when the words are recognised (not a backchannel such as "uh-huh"). A
 * caller still talking over the agent after this long has what they said so
 * far recognised at once (a probe), without waiting for them to stop: words
 * stop the agent, noise does not.
 */
#define SESSION_TALK_OVER_MS 1200

/*
 * End of the caller's turn: the detector's hangover (300 ms of quiet, see
 * vad.h) after words that end a sentence; when the words end on a word that
 * promises more ("and", "so", "um"; "y", "pero", "este" in Spanish), the
 * session waits this much longer for the caller to go on before it takes
 * the turn, and joins what they add to it.
 */
#define SESSION_CONTINUE_MS 900

/*
 * The pieces of the agent's reply being synthesized at once: their audio is
 * played in the order they were asked, whatever order it comes back in.
 */
#define SESSION_PIECES 16

struct session_piece {
    unsigned id;      /* 0: a free slot */
    int ended;        /* all its audio came (session_audio_end) */
    struct buf audio; /* audio that came before the pieces ahead of it ended */
};
#define SESSION_HELD_MAX 512

struct session {
    struct session_io io;
    int state; /* see session.c */
    char stream_sid[SID_SIZE];
    char call_sid[SID_SIZE];
    char account_sid[SID_SIZE];
    char lang[16];
    char voice[64];
    long long opened_us, started_us;
    long frames_in, frames_out;
    struct pacer pacer;
    struct buf tx;              /* the message being written, kept for the next one */
    struct media_event *parsed; /* where messages are parsed: see session_config */
    int owns_parsed;            /* parsed was allocated by the session */
    struct vad vad;
    const struct agent_ops *agent;
    void *agent_obj; /* the call's agent (agent->open), NULL until session_begin */
    int agent_started;
    unsigned turn_last;           /* the newest utterance of the agent's current turn, 0: none */
    int echo;                     /* the echo agent: caller frames go straight back */
    unsigned utterance;           /* id of the newest utterance asked of the agent */
    unsigned playing;             /* id whose audio is queued or in flight, 0 when none */
    unsigned cut_upto;            /* replies up to this id were cut by barge-in: drop their audio */
    long long utterance_first_us; /* when the playing utterance's first frame went out */
    enum agent_action after_utterance; /* what to do once `playing` has been heard */
    unsigned action_utterance;         /* the utterance carrying that action */
    enum session_outcome outcome;
    char reason[96]; /* why it ended, for logs and the store */
    /* latency figures (ms, -1 until measured) */
    long first_audio_ms;     /* start -> first greeting frame sent */
    long long speech_end_us; /* when the caller's last turn ended */
    long last_turn_gap_ms;   /* caller speech end -> first reply frame */
    long clears;
    long lead_ms;
    /* listening (with io.recognize) */
    struct utterance said;    /* the caller's current utterance */
    unsigned listen_id;       /* the newest utterance sent to the recogniser */
    long long caller_from_us; /* when the caller's current speech started */
    int talked_over;          /* that speech already stopped the agent */
    unsigned probe_id;        /* the recognition of a talk-over so far, 0: none */
    int probed;               /* the current utterance was probed */
    /* words that ended on "and", "um", ...: the turn waits for more (SESSION_CONTINUE_MS) */
    char held[SESSION_HELD_MAX];
    long long held_until_us; /* when the held words become the turn; 0 while the caller talks */
    /* the reply to a caller turn, as transcript lines held until its first audio (NUL-separated) */
    struct buf reply_lines;
    int reply_awaited; /* a caller turn was taken and its reply's first audio has not gone out */
    /* pieces being synthesized, oldest first: the first one's audio goes to the pacer */
    struct session_piece pieces[SESSION_PIECES];
    size_t npieces;
    unsigned mark_owed; /* the pacer ran out of this piece's audio before it ended */
};

struct session_config {
    int lead_ms; /* pacing lead (0: PACER_DEFAULT_LEAD_MS) */
    /*
     * Where the session parses each message (9 KiB, nothing kept between
     * messages): one per event loop, shared by every session that loop
     * drives, since a loop handles one message at a time. Must outlive the
     * sessions. NULL: the session allocates its own at its first message.
     */
    struct media_event *scratch;
};

/** Starts a session for a newly opened socket. Allocates nothing. */
void session_init(struct session *s, const struct session_io *io, const struct session_config *cfg,
                  long long now_us);

/**
 * The server found the call (tenant, agent, language, greeting): the agent
 * starts and its first words are synthesized. `env` is the network of
 * engines that need one (the LLM agent; agent_env), NULL for the others.
 */
void session_begin(struct session *s, const struct agent_ops *agent, const struct agent_call *call,
                   const char *voice, const struct agent_env *env, long long now_us);

/** Time passed: the agent's timeouts (an LLM's filler and limits). */
void session_agent_tick(struct session *s, long long now_ms);

/**
 * Handles one text message from Twilio, parsed into the config's scratch.
 * Returns 0, or a negative SB_E* code when the session must close (the
 * reason is in s->reason and the close was already asked of io).
 */
int session_message(struct session *s, const char *text, size_t len, long long now_us);

/**
 * Synthesized audio for utterance `id` (mu-law 8 kHz), whole or a piece of
 * it; played after the utterances asked before it. Stale ids (cut off by
 * barge-in, or already ended) are dropped.
 */
void session_audio(struct session *s, unsigned id, const unsigned char *mulaw, size_t len,
                   long long now_us);

/** All of utterance `id`'s audio came (or none will: it failed): the next one may play. */
void session_audio_end(struct session *s, unsigned id, long long now_us);

/**
 * Whether audio for utterance `id` would still be played: the session is
 * active and a piece of its reply waits for it (not ended, not cut off by
 * barge-in). 0 for stale ids: a reply superseded by barge-in (its synthesis
 * may still be queued or running when its audio comes), a piece that already
 * ended, an id never asked. session_audio drops the audio this refuses. Pure.
 */
int session_wants_audio(const struct session *s, unsigned id);

/**
 * A whole synthesis of utterance `id` is done: its audio (when `rc` is 0)
 * then its end, as session_audio and session_audio_end; stale ids are
 * dropped. How the server hands the session a job of its worker pool.
 */
void session_synthesized(struct session *s, unsigned id, int rc, const unsigned char *mulaw,
                         size_t len, long long now_us);

/**
 * The recogniser's answer for utterance `id` (`text`: its words, lower-case,
 * for SESSION_HEARD_WORDS), or for a talk-over probe (words that are not a
 * backchannel stop the agent; the caller's turn waits for the whole
 * utterance). Stale ids are dropped. Words are the caller's
 * turn, stopping the agent if it talks, except backchannels ("uh-huh",
 * "okay", "sí"), which let it go on; nothing heard while the agent talks
 * is ignored, and while it is silent is a turn without words (the agent
 * asks again, or offers keys).
 */
void session_transcript(struct session *s, unsigned id, enum session_heard heard, const char *text,
                        long long now_us);

/**
 * Words heard so far of the caller's current utterance, from a streaming
 * recogniser while they still speak: words that are not a backchannel stop
 * the agent at once if it talks over them (the turn itself still waits for
 * the whole utterance). Ignored when the caller is not speaking.
 */
void session_partial(struct session *s, const char *text, long long now_us);

/** True when `text` is only a backchannel ("uh-huh", "mm", "okay", "sí", ...). */
int session_is_backchannel(const char *text);

/** True when the last word of `text` promises more ("and", "so", "um", "y", "pero", ...). */
int session_trails_off(const char *text);

/**
 * Sends the frames that are due. Returns microseconds until the next call is
 * useful, or -1 when nothing is queued.
 */
long long session_tick(struct session *s, long long now_us);

/** Ends the session from outside (replaced, server shutdown): closes and records why. */
void session_end(struct session *s, enum session_outcome outcome, int code, const char *reason);

/** The socket is gone: tells the agent and frees what the session holds. */
void session_release(struct session *s);

/** "transfer", "hangup", ... */
const char *session_outcome_name(enum session_outcome o);

#endif
