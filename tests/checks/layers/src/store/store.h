#include "voice/voice.h"
