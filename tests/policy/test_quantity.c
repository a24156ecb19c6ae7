/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for policy/quantity.c: Kubernetes quantities read as whole numbers. */
#include <string.h>

#include "check.h"
#include "policy/quantity.h"

static void
expect(const char *s, enum quantity_result want, int64_t value)
{
    int64_t got = -12345;
    enum quantity_result r = quantity_parse(s, strlen(s), &got);

    if (r != want)
        fprintf(stderr, "quantity \"%s\"\n", s);
    CHECK_INT(r, want);
    if (want == QUANTITY_OK) {
        if (got != value)
            fprintf(stderr, "quantity \"%s\"\n", s);
        CHECK_INT(got, value);
    } else {
        CHECK_INT(got, -12345); /* written only on success */
    }
}

int
main(void)
{
    expect("1", QUANTITY_OK, 1);
    expect("0", QUANTITY_OK, 0);
    expect("-0", QUANTITY_OK, 0);
    expect("+2", QUANTITY_OK, 2);
    expect("8", QUANTITY_OK, 8);
    expect("007", QUANTITY_OK, 7);
    expect("1.0", QUANTITY_OK, 1);
    expect("2.", QUANTITY_OK, 2);
    expect("1000m", QUANTITY_OK, 1);
    expect("2000m", QUANTITY_OK, 2);
    expect("1k", QUANTITY_OK, 1000);
    expect("1Ki", QUANTITY_OK, 1024);
    expect("0.5Ki", QUANTITY_OK, 512);
    expect("1e3", QUANTITY_OK, 1000);
    expect("1E3", QUANTITY_OK, 1000);
    expect("1E", QUANTITY_OK, 1000000000000000000LL);
    expect("15e-1", QUANTITY_FRACTIONAL, 0);
    expect("10e-1", QUANTITY_OK, 1);
    expect("100", QUANTITY_OK, 100);
    expect("1000000000000000000000", QUANTITY_INVALID, 0);
    expect("0.5", QUANTITY_FRACTIONAL, 0);
    expect(".5", QUANTITY_FRACTIONAL, 0);
    expect("500m", QUANTITY_FRACTIONAL, 0);
    expect("1500m", QUANTITY_FRACTIONAL, 0);
    expect("1n", QUANTITY_FRACTIONAL, 0);
    expect("0.0001", QUANTITY_FRACTIONAL, 0);
    expect("0.000", QUANTITY_OK, 0);
    expect("-1", QUANTITY_INVALID, 0);
    expect("-0.5", QUANTITY_INVALID, 0);
    expect("", QUANTITY_INVALID, 0);
    expect(".", QUANTITY_INVALID, 0);
    expect("abc", QUANTITY_INVALID, 0);
    expect("1x", QUANTITY_INVALID, 0);
    expect("1KI", QUANTITY_INVALID, 0);
    expect("1 ", QUANTITY_INVALID, 0);
    expect("1e", QUANTITY_INVALID, 0);
    expect("1e+", QUANTITY_INVALID, 0);
    expect("1.2.3", QUANTITY_INVALID, 0);
    expect("9223372036854775807", QUANTITY_INVALID, 0); /* more digits than always fit */
    expect("9Ei", QUANTITY_INVALID, 0);
    expect("1e99999", QUANTITY_INVALID, 0);
    return check_summary();
}
