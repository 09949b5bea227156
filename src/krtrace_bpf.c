// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* krtrace-bpf: the live path (stub while the loader is being written). */
#include <stdio.h>
#include "krtrace.skel.h"

int main(int argc, char **argv)
{
	fprintf(stderr, "krtrace-bpf: live path not built yet\n");
	return 1;
}
