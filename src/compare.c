/* krtrace compare: placeholder until the real one lands. */
#include <stdio.h>
#include "compare.h"

int krt_compare_main(int argc, char **argv)
{
	fprintf(stderr, "krtrace compare: not implemented yet\n");
	return 2;
}
