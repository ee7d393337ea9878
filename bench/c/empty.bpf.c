/* The floor: an empty program on the tracepoint. */
#include "common.h"

TRACEPOINT int empty(void *ctx)
{
	return 0;
}
