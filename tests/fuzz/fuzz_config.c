/* fuzz_config.c: libFuzzer target for the configuration loader, key binding and dependency graph. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const dr_config_key keys[] = {
    {"table", DR_KEY_STRING, DR_KEY_REQUIRED, NULL, NULL, ""},
    {"count", DR_KEY_INT, 0, "3", NULL, ""},
    {"enabled", DR_KEY_BOOL, 0, "true", NULL, ""},
    {"ratio", DR_KEY_FLOAT, 0, "0.5", NULL, ""},
    {"window", DR_KEY_DURATION, 0, "1h", NULL, ""},
    {"tags", DR_KEY_LIST, 0, NULL, NULL, ""},
    {"mode", DR_KEY_ENUM, 0, "replica", "replica|global", ""},
    {"password", DR_KEY_STRING, DR_KEY_SECRET, NULL, NULL, ""},
};
static const char *const defaults[] = {"db.*", NULL};
static const dr_plugin_descriptor db = {DR_PLUGIN_HEADER, "db", "1", "", keys, 8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static const dr_plugin_descriptor dns = {DR_PLUGIN_HEADER, "dns", "1", "", keys, 8, defaults, NULL, NULL,
                                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

static const dr_plugin_descriptor *find(const char *type, void *arg)
{
    (void)arg;
    return strcmp(type, "db") == 0 ? &db : strcmp(type, "dns") == 0 ? &dns : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    ag_config *cfg = NULL;
    errlist e = {0};
    FILE *f;

    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/drfuzz-config-%ld.conf", (long)getpid());
    f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (config_load(path, &cfg, &e) == 0 && config_bind(cfg, find, NULL, &e) == 0) {
        graph g;
        graph_build(cfg, &g, &e);
        graph_free(&g);
    }
    config_free(cfg);
    errlist_free(&e);
    return 0;
}
