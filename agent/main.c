/* main.c: dr-agent entry point. */
#include <stdio.h>

int main(void)
{
    puts("dr-agent");
    return 0;
}
