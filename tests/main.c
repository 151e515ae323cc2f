/*
 * Test program: runs every CUnit suite, or only those whose names are given
 * on the command line. Exits nonzero when a test fails.
 */
#include "suites.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

typedef int (*register_fn)(void);

static const register_fn suite_registrations[] = {
    nnb_test_register_ops,
    nnb_test_register_graph,
    nnb_test_register_model_file,
    nnb_test_register_engine,
    nnb_test_register_io,
    nnb_test_register_cli,
    nnb_test_register_hdf5_inputs,
    nnb_test_register_keras,
    nnb_test_register_fuzz_regressions,
};

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "nnb_tests: CUnit registry initialization failed\n");
        return 2;
    }

    size_t count = sizeof suite_registrations / sizeof suite_registrations[0];
    for (size_t i = 0; i < count; i++) {
        if (suite_registrations[i]() != 0) {
            fprintf(stderr, "nnb_tests: suite registration failed: %s\n", CU_get_error_msg());
            CU_cleanup_registry();
            return 2;
        }
    }

    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            CU_pSuite suite = CU_get_suite(argv[i]);
            if (suite == NULL) {
                fprintf(stderr, "nnb_tests: no suite named '%s'\n", argv[i]);
                CU_cleanup_registry();
                return 2;
            }
            CU_basic_run_suite(suite);
        }
    } else {
        CU_basic_run_tests();
    }

    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
