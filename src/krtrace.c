/* krtrace: import an ftrace report (placeholder until the engine lands). */
#include <stdio.h>

int main(int argc, char **argv)
{
	fprintf(stderr, "krtrace: not built yet\n");
	return 1;
}
