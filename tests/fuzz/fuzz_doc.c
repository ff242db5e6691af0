/* fuzz_doc.c: libFuzzer target for the JSON and XML response parsers (first byte picks the parser). */
#include <stddef.h>
#include <stdint.h>

#include "dr/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every node so that the whole tree is read by the sanitizers. */
static size_t walk(const dr_node *n, int depth)
{
    size_t count = 1;
    double t;

    if (depth > 64)
        return count;
    (void)dr_node_name(n);
    (void)dr_node_text(n);
    (void)dr_node_num(n, NULL, 0.0);
    (void)dr_node_bool(n, NULL, 0);
    (void)dr_node_time(n, NULL, &t);
    (void)dr_node_next_named(n);
    for (const dr_node *c = dr_node_first(n); c; c = dr_node_next(c))
        count += walk(c, depth + 1);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dr_doc *doc = NULL;
    dr_error err;
    int rc;

    if (size < 1)
        return 0;
    dr_error_clear(&err);
    if (data[0] & 1)
        rc = dr_doc_parse_xml((const char *)data + 1, size - 1, &doc, &err);
    else
        rc = dr_doc_parse_json((const char *)data + 1, size - 1, &doc, &err);
    if (rc == 0) {
        const dr_node *root = dr_doc_root(doc);
        walk(root, 0);
        (void)dr_node_get(root, "a.b.0.c");
        (void)dr_node_get(root, "Error.Code");
        dr_doc_free(doc);
    }
    return 0;
}
