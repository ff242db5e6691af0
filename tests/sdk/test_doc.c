/* test_doc.c: the dr_doc tree: JSON and XML mapping, paths, typed getters, refused DTDs and entities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dr/doc.h"
#include "dr/util.h"

static void test_json(void **state)
{
    const char *text = "{\"Table\":{\"TableName\":\"orders\",\"ItemCount\":12,\"Size\":12.5,\"Stream\":true,"
                       "\"Nothing\":null,\"Replicas\":[{\"RegionName\":\"us-west-2\"},{\"RegionName\":\"eu-west-1\"}],"
                       "\"Created\":1440932400.25}}";
    dr_doc *d = NULL;
    dr_error err;
    double t;
    (void)state;

    dr_error_clear(&err);
    assert_int_equal(dr_doc_parse_json(text, strlen(text), &d, &err), 0);
    const dr_node *root = dr_doc_root(d);
    assert_int_equal(dr_node_kind_of(root), DR_NODE_OBJECT);
    const dr_node *tbl = dr_node_get(root, "Table");
    assert_string_equal(dr_node_str(tbl, "TableName"), "orders");
    assert_string_equal(dr_node_str(tbl, "ItemCount"), "12");
    assert_string_equal(dr_node_str(tbl, "Size"), "12.5");
    assert_true(dr_node_num(tbl, "Size", 0) == 12.5);
    assert_int_equal(dr_node_bool(tbl, "Stream", 0), 1);
    assert_int_equal(dr_node_kind_of(dr_node_get(tbl, "Nothing")), DR_NODE_NULL);
    assert_null(dr_node_str(tbl, "Nothing"));
    assert_int_equal(dr_node_count(dr_node_get(tbl, "Replicas")), 2);
    assert_string_equal(dr_node_str(root, "Table.Replicas.1.RegionName"), "eu-west-1");
    assert_string_equal(dr_node_name(dr_node_get(root, "Table.Replicas.0")), "");
    assert_null(dr_node_get(root, "Table.Replicas.2"));
    assert_null(dr_node_get(root, "Table.Missing"));
    assert_int_equal(dr_node_time(tbl, "Created", &t), 0);
    assert_true(t == 1440932400.25);
    assert_int_equal(dr_node_time(tbl, "Missing", &t), DR_ENOTFOUND);
    assert_int_equal(dr_node_time(tbl, "TableName", &t), DR_EPARSE);
    assert_true(dr_node_num(tbl, "TableName", -1) == -1);
    /* member order is document order */
    const dr_node *first = dr_node_first(tbl);
    assert_string_equal(dr_node_name(first), "TableName");
    assert_string_equal(dr_node_name(dr_node_next(first)), "ItemCount");
    dr_doc_free(d);

    assert_int_equal(dr_doc_parse_json("{\"a\": [1, 2,}", 13, &d, &err), DR_EPARSE);
    assert_null(d);
    assert_non_null(strstr(err.message, "line 1"));
}

static void test_xml(void **state)
{
    const char *text =
        "<?xml version=\"1.0\"?>\n"
        "<DescribeGlobalClustersResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n"
        "  <DescribeGlobalClustersResult>\n"
        "    <GlobalClusters>\n"
        "      <GlobalClusterMember><GlobalClusterIdentifier>g1</GlobalClusterIdentifier>\n"
        "        <GlobalClusterMembers>\n"
        "          <GlobalClusterMember><DBClusterArn>arn:a</DBClusterArn><IsWriter>true</IsWriter></GlobalClusterMember>\n"
        "          <GlobalClusterMember><DBClusterArn>arn:b</DBClusterArn><IsWriter>false</IsWriter></GlobalClusterMember>\n"
        "        </GlobalClusterMembers>\n"
        "      </GlobalClusterMember>\n"
        "    </GlobalClusters>\n"
        "    <Empty/><Amp>a &amp; b &lt;c&gt;</Amp><x:Prefixed xmlns:x=\"urn:x\">v</x:Prefixed>\n"
        "    <When>2015-08-30T11:00:00.500Z</When>\n"
        "  </DescribeGlobalClustersResult>\n"
        "</DescribeGlobalClustersResponse>\n";
    dr_doc *d = NULL;
    dr_error err;
    double t;
    (void)state;

    assert_int_equal(dr_doc_parse_xml(text, strlen(text), &d, &err), 0);
    const dr_node *root = dr_doc_root(d);
    assert_string_equal(dr_node_name(root), "DescribeGlobalClustersResponse");
    const dr_node *res = dr_node_get(root, "DescribeGlobalClustersResult");
    const dr_node *gc = dr_node_get(res, "GlobalClusters.GlobalClusterMember");
    assert_string_equal(dr_node_str(gc, "GlobalClusterIdentifier"), "g1");
    const dr_node *m = dr_node_get(gc, "GlobalClusterMembers.GlobalClusterMember");
    assert_string_equal(dr_node_str(m, "DBClusterArn"), "arn:a");
    assert_int_equal(dr_node_bool(m, "IsWriter", 0), 1);
    m = dr_node_next_named(m);
    assert_string_equal(dr_node_str(m, "DBClusterArn"), "arn:b");
    assert_int_equal(dr_node_bool(m, "IsWriter", 1), 0);
    assert_null(dr_node_next_named(m));
    assert_int_equal(dr_node_kind_of(gc), DR_NODE_OBJECT);
    assert_null(dr_node_text(gc));
    assert_string_equal(dr_node_str(res, "Empty"), "");
    assert_string_equal(dr_node_str(res, "Amp"), "a & b <c>");
    assert_string_equal(dr_node_str(res, "Prefixed"), "v");
    assert_int_equal(dr_node_time(res, "When", &t), 0);
    assert_true(t == 1440932400.5);
    dr_doc_free(d);
}

static void test_xml_refusals(void **state)
{
    const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
                         "\"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
    const char *external = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:9/x\">]>"
                           "<r>&x;</r>";
    const char *undeclared = "<r>&nope;</r>";
    const char *bad = "<a><b></a>";
    dr_doc *d = NULL;
    dr_error err;
    (void)state;

    dr_error_clear(&err);
    assert_int_equal(dr_doc_parse_xml(laughs, strlen(laughs), &d, &err), DR_EPARSE);
    assert_null(d);
    assert_non_null(strstr(err.message, "refused"));
    assert_int_equal(dr_doc_parse_xml(external, strlen(external), &d, &err), DR_EPARSE);
    assert_non_null(strstr(err.message, "refused"));
    assert_int_equal(dr_doc_parse_xml(undeclared, strlen(undeclared), &d, &err), DR_EPARSE);
    assert_int_equal(dr_doc_parse_xml(bad, strlen(bad), &d, &err), DR_EPARSE);
    assert_non_null(strstr(err.message, "line 1"));
    assert_int_equal(dr_doc_parse_xml("", 0, &d, &err), DR_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_xml),
        cmocka_unit_test(test_xml_refusals),
    };
    return cmocka_run_group_tests_name("doc", tests, NULL, NULL);
}
