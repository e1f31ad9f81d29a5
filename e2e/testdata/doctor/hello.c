#include <stdio.h>

int main(void)
{
	puts("Hello from a dynamic C binary!");
	return 0;
}
