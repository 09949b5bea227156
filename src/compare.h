/* `krtrace compare A.jsonl B.jsonl`: agreement of two --json results of one run. */
#ifndef KRT_COMPARE_H
#define KRT_COMPARE_H

/* argv[0] is "compare". Exit status: 0 agreement, 1 below --min, 2 usage or input error. */
int krt_compare_main(int argc, char **argv);

#endif
