/*
 * Twilio's call statuses in the order a call moves through them: the rule
 * both backends' status_apply follow (a call never moves back; a terminal
 * status is final; "answered" is stored as "in-progress").
 */
#ifndef SB_STORE_CALL_STATUS_H
#define SB_STORE_CALL_STATUS_H

/* The rank of completed, busy, failed, no-answer and canceled: nothing follows them. */
#define RANK_TERMINAL 4

struct call_status {
    const char *name;
    const char *canonical; /* what the call log stores */
    int rank;
};

/** The status named `name` as Twilio sends it, or NULL for one the log does not know. */
const struct call_status *call_status_find(const char *name);

#endif
