/* An ordered list of request parameters (name, value), as Twilio sends them. */
#ifndef SB_SIM_PARAMS_H
#define SB_SIM_PARAMS_H

#include <stddef.h>

struct sim_param {
    char *name;
    char *value;
};

struct sim_params {
    struct sim_param *items;
    size_t count;
    size_t cap;
};

#define SIM_PARAMS_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/** Appends a copy of name=value (repeated names are kept). Returns 0 or SB_ENOMEM. */
int sim_params_add(struct sim_params *p, const char *name, const char *value);

/** Replaces every value of `name` with one copy of `value` (appends when absent). */
int sim_params_set(struct sim_params *p, const char *name, const char *value);

/** Appends a copy of every parameter of `from`. */
int sim_params_extend(struct sim_params *p, const struct sim_params *from);

/** The first value of `name`, or NULL. */
const char *sim_params_get(const struct sim_params *p, const char *name);

/**
 * Appends the parameters form-encoded (name=value&..., spaces as '+') to a
 * newly allocated string (free() it). Returns NULL on allocation failure.
 */
char *sim_params_encode(const struct sim_params *p);

/** Frees every copy and empties the list. */
void sim_params_release(struct sim_params *p);

#endif
