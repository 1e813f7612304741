/* Uses size_t without <stddef.h>. */
#ifndef FIXTURE_CORE_NO_STDDEF_H
#define FIXTURE_CORE_NO_STDDEF_H

struct no_stddef {
    size_t len;
};

#endif
