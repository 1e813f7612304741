/*
 * The process's clocks, read in one place. Reading the clock is the one
 * I/O core/ allows besides core/log; nothing here keeps state.
 */
#ifndef SB_CORE_CLOCK_H
#define SB_CORE_CLOCK_H

/** Monotonic microseconds (CLOCK_MONOTONIC): for deadlines and durations. */
long long clock_mono_us(void);

/** Monotonic milliseconds (CLOCK_MONOTONIC). */
long long clock_mono_ms(void);

/** Monotonic seconds with a fraction (CLOCK_MONOTONIC). */
double clock_mono_s(void);

/** Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME): for records people read. */
long long clock_wall_ms(void);

#endif
