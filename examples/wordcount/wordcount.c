/*
 * wordcount — `wc` for warden's `wasi` ABI (a WASI preview1 command).
 *
 *   stdin   the input
 *   stdout  "<lines> <words> <bytes>\n"  (single spaces, no padding, no file name)
 *   stderr  one short note: "wordcount: read <bytes> bytes\n"
 *   exit    0, or 1 if reading stdin fails
 *
 * Counting follows POSIX wc in the C locale: lines are '\n' characters, words are
 * maximal runs of bytes that are not ' ', '\t', '\n', '\v', '\f' or '\r', bytes are
 * bytes.
 *
 * No files, no environment, no arguments: `main(void)` so wasi-libc does not pull in
 * args_get / args_sizes_get; stdio pulls in fd_read, fd_write, fd_seek, fd_close and
 * fd_fdstat_get; returning from main (or exit) uses proc_exit.
 *
 * Build: clang --target=wasm32-wasi -O2 wordcount.c -o wordcount.wasm
 *        (examples/build.mjs does this; see examples/README.md)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static unsigned char buf[64 * 1024];

static int is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r'); /* \t \n \v \f \r */
}

int main(void) {
    unsigned long long lines = 0, words = 0, bytes = 0;
    int in_word = 0;

    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "wordcount: read error: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0) break;
        bytes += (unsigned long long)n;
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = buf[i];
            if (c == '\n') lines++;
            if (is_space(c)) {
                in_word = 0;
            } else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
    }

    printf("%llu %llu %llu\n", lines, words, bytes);
    fprintf(stderr, "wordcount: read %llu bytes\n", bytes);
    return 0;
}
