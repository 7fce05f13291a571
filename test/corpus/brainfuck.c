/* A Brainfuck interpreter: the program is stdin up to a '!', its input the rest. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char program[8192];
  int length = 0, c;
  while ((c = getchar()) != EOF && c != '!' && length < (int)sizeof program) program[length++] = (char)c;
  int *jump = calloc(length, sizeof *jump), stack[256], top = 0;
  for (int i = 0; i < length; i++) {
    if (program[i] == '[') stack[top++] = i;
    else if (program[i] == ']' && top > 0) { int open = stack[--top]; jump[open] = i; jump[i] = open; }
  }
  unsigned char tape[30000] = {0};
  int at = 0;
  unsigned long steps = 0;
  for (int pc = 0; pc < length; pc++, steps++) {
    switch (program[pc]) {
      case '>': at = (at + 1) % 30000; break;
      case '<': at = (at + 29999) % 30000; break;
      case '+': tape[at]++; break;
      case '-': tape[at]--; break;
      case '.': putchar(tape[at]); break;
      case ',': { int ch = getchar(); tape[at] = ch == EOF ? 0 : (unsigned char)ch; break; }
      case '[': if (!tape[at]) pc = jump[pc]; break;
      case ']': if (tape[at]) pc = jump[pc]; break;
    }
  }
  printf("\n%lu steps\n", steps);
  return 0;
}
