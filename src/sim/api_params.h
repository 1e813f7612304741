/*
 * The parsing switchboard sim api does on options and on what clients send:
 * --answered-by arguments, the AMD answer picked at random from a seed, the
 * StartTime/EndTime filters of Calls list and the paging parameters
 * (PageSize, Page, PageToken). Pure functions without state, callable from
 * any thread; nothing here allocates. Results that point into an argument
 * are borrowed from it.
 */
#ifndef SB_SIM_API_PARAMS_H
#define SB_SIM_API_PARAMS_H

#include <stddef.h>
#include <time.h>

#include "core/err.h"
#include "core/form.h"

/* Twilio's page size when a list request names none, and the largest it takes. */
#define API_PAGE_SIZE_DEFAULT 50
#define API_PAGE_SIZE_MAX 1000
/* The highest Page number taken: far beyond anything the simulator holds. */
#define API_PAGE_MAX 1000000

/** True when `value` is an AnsweredBy value Twilio reports (human, machine_start, ...). */
int api_params_answered_by_valid(const char *value);

/*
 * One --answered-by argument: VALUE for every call, or NUMBER=VALUE for the
 * calls to NUMBER. VALUE is an AnsweredBy value or "random".
 */
struct api_params_answer {
    const char *number;      /* NULL: every number; else borrowed from the argument */
    const char *answered_by; /* borrowed from the argument */
};

/**
 * Parses an --answered-by argument in place: a '=' in `arg` is replaced by
 * a NUL and both fields point into `arg`. NUMBER must not be empty nor hold
 * whitespace; VALUE must pass api_params_answered_by_valid or be "random".
 * Returns 0, or SB_EINVAL with `arg` unchanged and *out zeroed.
 */
SB_MUST_CHECK int api_params_answer_parse(char *arg, struct api_params_answer *out);

/**
 * The AnsweredBy a seeded random detection reports for the `nth` call (from
 * 0) to `to`: the same seed, number and nth always give the same answer,
 * whatever else was called meanwhile. Uniform over the values of the mode:
 * human, machine_start, fax, unknown (MachineDetection=Enable), or human,
 * machine_end_beep, machine_end_silence, machine_end_other, fax, unknown
 * (`message_end`: DetectMessageEnd). Returns a static string.
 */
const char *api_params_amd_pick(unsigned long long seed, const char *to, unsigned long nth,
                                int message_end);

/**
 * Parses a date as the Calls list filters take it: YYYY-MM-DD, optionally
 * followed by THH:MM:SS, a fraction of a second and Z or an offset
 * (+HH:MM, -HH:MM), as the helper libraries send dates. Sets *day to the
 * UTC day, counted from 1970-01-01 (day 0). Returns 0, or SB_EINVAL
 * (*day untouched) for anything else, trailing bytes included.
 */
SB_MUST_CHECK int api_params_day(const char *text, long long *day);

/** The UTC day of `t`, counted as api_params_day counts. */
long long api_params_day_of(time_t t);

/*
 * A filter on whole UTC days, as Calls list's StartTime (or EndTime)
 * parameters give it: `NAME` (on that day), `NAME>` (on or after), `NAME<`
 * (on or before). Twilio's documentation writes the last two as
 * NAME>=YYYY-MM-DD and NAME<=YYYY-MM-DD: the key is NAME> or NAME<, the '='
 * is the separator. Keys spelt NAME>= and NAME<= are taken as well.
 */
struct api_params_days {
    int has_on, has_from, has_to;
    long long on, from, to;
};

/**
 * Reads the filter named `name` ("StartTime", "EndTime") from `q`. An empty
 * value is no filter. Returns 0, or SB_EINVAL with the offending key copied
 * into `bad` (of `badsize` bytes) when a value is not a date.
 */
SB_MUST_CHECK int api_params_days_parse(const struct form *q, const char *name,
                                        struct api_params_days *out, char *bad, size_t badsize);

/** True when the filter is set at all. */
int api_params_days_active(const struct api_params_days *f);

/** True when day `day` passes every bound of the filter. */
int api_params_days_match(const struct api_params_days *f, long long day);

/* The paging parameters of a list request. */
struct api_params_page {
    long size;             /* PageSize: 1 to API_PAGE_SIZE_MAX, default API_PAGE_SIZE_DEFAULT */
    long number;           /* Page: 0 to API_PAGE_MAX, default 0 */
    const char *after_sid; /* PageToken "PA<sid>": list after this SID; NULL without (borrowed) */
};

/**
 * Reads PageSize, Page and PageToken from `q`. Empty values count as absent.
 * Returns 0, or SB_EINVAL with the offending key copied into `bad` when a
 * value is not a number in range or the token does not start with "PA".
 */
SB_MUST_CHECK int api_params_page_parse(const struct form *q, struct api_params_page *out,
                                        char *bad, size_t badsize);

#endif
