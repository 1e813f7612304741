#include "cli/cli.h"
#include "server/server.h"
