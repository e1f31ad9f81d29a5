#include <stdio.h>
int main(void)
{
	FILE *f = fopen("/etc/ssl/certs/ca-certificates.crt", "r");
	puts(f ? "found the CA bundle" : "no CA bundle");
	return 0;
}
