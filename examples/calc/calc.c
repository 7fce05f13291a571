/*
 * calc — a tiny line-oriented integer interpreter, in freestanding C (no libc), for
 * warden's `run` ABI *without* `alloc`: the host copies the input to the exported
 * global `__heap_base` and calls run(ptr, len); the output is written after the input
 * and returned as ptr | (len << 32).
 *
 * Language, one statement per line:
 *     name = expr        assign (prints nothing)
 *     expr               prints the value and '\n'
 *     # comment          (also after a statement); blank lines are ignored
 *   expr: 64-bit signed integers with + - * / % (C precedence, left-associative),
 *   unary - and +, parentheses, variables ([A-Za-z_][A-Za-z0-9_]*, at most 64 of them).
 *   Arithmetic wraps around (two's complement); / and % truncate toward zero.
 *   An error prints "error: line N: <message>\n" and the interpreter goes on with the
 *   next line.
 *
 * Build (examples/build.mjs does this):
 *   clang --target=wasm32 -O2 -nostdlib -ffreestanding -Wl,--no-entry \
 *         -Wl,--export=__heap_base calc.c -o calc.wasm
 * (`run` is exported by its export_name attribute; memory is exported by default).
 * The binary has no imports at all.
 */

typedef unsigned char u8;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;
typedef __SIZE_TYPE__ size_t;

#define INT64_MIN_ ((i64)(1ULL << 63))
#define MAX_VARS 64
#define MAX_NAME 32
#define MAX_DEPTH 256

extern u8 __heap_base; /* defined by wasm-ld: first byte after data and stack */

/* clang may lower loops to these even with -ffreestanding; define them here so the
 * module never needs an import. */
void *memcpy(void *dst, const void *src, size_t n) {
    u8 *d = dst;
    const u8 *s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void *memset(void *dst, int c, size_t n) {
    u8 *d = dst;
    while (n--) *d++ = (u8)c;
    return dst;
}

/* ---- output buffer, grown in linear memory after the input ---- */

static u8 *out_base;
static u32 out_len;

static void out_reserve(u32 n) {
    u64 end = (u64)(size_t)out_base + out_len + n;
    u64 have = (u64)__builtin_wasm_memory_size(0) << 16;
    if (end <= have) return;
    if (end > 0xffffffffULL) __builtin_trap();
    size_t pages = (size_t)((end - have + 0xffff) >> 16);
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
}

static void out_bytes(const char *s, u32 n) {
    out_reserve(n);
    memcpy(out_base + out_len, s, n);
    out_len += n;
}

static void out_str(const char *s) {
    u32 n = 0;
    while (s[n]) n++;
    out_bytes(s, n);
}

static void out_u64(u64 v) {
    char tmp[20];
    int i = 20;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_bytes(tmp + i, (u32)(20 - i));
}

static void out_i64(i64 v) {
    if (v < 0) {
        out_bytes("-", 1);
        out_u64(0 - (u64)v);
    } else {
        out_u64((u64)v);
    }
}

/* ---- variables ---- */

static struct {
    char name[MAX_NAME];
    u32 len;
    i64 value;
} vars[MAX_VARS];
static u32 nvars;

static int name_eq(u32 i, const u8 *s, u32 n) {
    if (vars[i].len != n) return 0;
    for (u32 k = 0; k < n; k++)
        if ((u8)vars[i].name[k] != s[k]) return 0;
    return 1;
}

static int var_find(const u8 *s, u32 n) {
    for (u32 i = 0; i < nvars; i++)
        if (name_eq(i, s, n)) return (int)i;
    return -1;
}

/* ---- parser / evaluator for one line ---- */

static const u8 *p, *end;
static const char *err;   /* first error on this line, or 0 */
static const u8 *err_name; /* variable named in the error, if any */
static u32 err_name_len;
static int depth;

static int is_alpha(u8 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(u8 c) { return c >= '0' && c <= '9'; }

static void skip_ws(void) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p < end && *p == '#') p = end; /* comment to end of line */
}

static void fail(const char *msg) {
    if (!err) err = msg;
}

static i64 expr(void);

static i64 primary(void) {
    skip_ws();
    if (err) return 0;
    if (p >= end) {
        fail("unexpected end of line");
        return 0;
    }
    u8 c = *p;
    if (is_digit(c)) {
        u64 v = 0;
        while (p < end && is_digit(*p)) {
            u64 d = (u64)(*p - '0');
            if (v > (0xffffffffffffffffULL - d) / 10) {
                fail("number too large");
                return 0;
            }
            v = v * 10 + d;
            p++;
        }
        /* 9223372036854775808 is accepted (it wraps to INT64_MIN, so -9223372036854775808 works) */
        if (v > (1ULL << 63)) {
            fail("number too large");
            return 0;
        }
        return (i64)v;
    }
    if (is_alpha(c)) {
        const u8 *s = p;
        while (p < end && (is_alpha(*p) || is_digit(*p))) p++;
        int i = var_find(s, (u32)(p - s));
        if (i < 0) {
            fail("unknown variable");
            err_name = s;
            err_name_len = (u32)(p - s);
            return 0;
        }
        return vars[i].value;
    }
    if (c == '(') {
        p++;
        i64 v = expr();
        skip_ws();
        if (err) return 0;
        if (p >= end || *p != ')') {
            fail("expected ')'");
            return 0;
        }
        p++;
        return v;
    }
    fail("unexpected character");
    return 0;
}

static i64 unary(void) {
    skip_ws();
    if (p < end && (*p == '-' || *p == '+')) {
        u8 op = *p++;
        if (++depth > MAX_DEPTH) {
            fail("expression nested too deeply");
            return 0;
        }
        i64 v = unary();
        depth--;
        return op == '-' ? (i64)(0 - (u64)v) : v;
    }
    return primary();
}

static i64 term(void) {
    i64 v = unary();
    for (;;) {
        skip_ws();
        if (err || p >= end || (*p != '*' && *p != '/' && *p != '%')) return v;
        u8 op = *p++;
        i64 r = unary();
        if (err) return 0;
        if (op == '*') {
            v = (i64)((u64)v * (u64)r);
        } else if (r == 0) {
            fail("division by zero");
            return 0;
        } else if (r == -1) {
            /* avoid the trap on INT64_MIN / -1: wrap like the other operators */
            v = op == '/' ? (i64)(0 - (u64)v) : 0;
        } else {
            v = op == '/' ? v / r : v % r;
        }
    }
}

static i64 expr(void) {
    if (++depth > MAX_DEPTH) {
        fail("expression nested too deeply");
        return 0;
    }
    i64 v = term();
    for (;;) {
        skip_ws();
        if (err || p >= end || (*p != '+' && *p != '-')) break;
        u8 op = *p++;
        i64 r = term();
        v = op == '+' ? (i64)((u64)v + (u64)r) : (i64)((u64)v - (u64)r);
    }
    depth--;
    return v;
}

static void line(const u8 *start, const u8 *stop, u32 lineno) {
    p = start;
    end = stop;
    err = 0;
    err_name = 0;
    depth = 0;

    skip_ws();
    if (p >= end) return; /* blank or comment */

    /* assignment? identifier, spaces, '=' */
    const u8 *name = 0;
    u32 name_len = 0;
    if (is_alpha(*p)) {
        const u8 *q = p;
        while (q < end && (is_alpha(*q) || is_digit(*q))) q++;
        const u8 *r = q;
        while (r < end && (*r == ' ' || *r == '\t')) r++;
        if (r < end && *r == '=') {
            name = p;
            name_len = (u32)(q - p);
            p = r + 1;
        }
    }

    i64 v = expr();
    skip_ws();
    if (!err && p < end) fail("unexpected character");

    if (!err && name) {
        int i = var_find(name, name_len);
        if (i < 0) {
            if (name_len >= MAX_NAME) fail("variable name too long");
            else if (nvars >= MAX_VARS) fail("too many variables");
            else {
                i = (int)nvars++;
                memcpy(vars[i].name, name, name_len);
                vars[i].len = name_len;
            }
        }
        if (!err) vars[i].value = v;
    }

    if (err) {
        out_str("error: line ");
        out_u64(lineno);
        out_str(": ");
        out_str(err);
        if (err_name) {
            out_str(" '");
            out_bytes((const char *)err_name, err_name_len);
            out_str("'");
        }
        out_str("\n");
    } else if (!name) {
        out_i64(v);
        out_str("\n");
    }
}

__attribute__((export_name("run"))) i64 run(u8 *ptr, u32 len) {
    /* fresh state per call, so calling run twice on one instance behaves the same */
    nvars = 0;
    out_base = (u8 *)(((size_t)ptr + len + 7) & ~(size_t)7);
    out_len = 0;

    const u8 *s = ptr, *stop = ptr + len;
    u32 lineno = 1;
    while (s < stop) {
        const u8 *e = s;
        while (e < stop && *e != '\n') e++;
        line(s, e, lineno++);
        s = e < stop ? e + 1 : e;
    }
    return (i64)((u64)(size_t)out_base | ((u64)out_len << 32));
}
