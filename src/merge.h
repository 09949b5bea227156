/*
 * `krtrace merge A.jsonl B.jsonl ...`: one tracer per host, traces joined
 * afterwards. A send one host's tracer saw leave for an untraced address
 * and the receive another host's tracer saw arrive from an untraced address
 * are the same bytes when they share the TCP 4-tuple and their sequence
 * ranges overlap; their traces become one.
 */
#ifndef KRT_MERGE_H
#define KRT_MERGE_H

#include <stdio.h>

/* argv[0] is "merge". Exit status: 0 ok, 2 usage or input error. */
int krt_merge_main(int argc, char **argv);

#endif
