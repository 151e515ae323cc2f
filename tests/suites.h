/* Every CUnit suite of the test program, registered from one list. */
#ifndef NNB_TEST_SUITES_H
#define NNB_TEST_SUITES_H

/* Each function adds one suite to the CUnit registry and returns 0, or
 * returns nonzero when CUnit fails to register it. */
int nnb_test_register_ops(void);
int nnb_test_register_graph(void);
int nnb_test_register_model_file(void);
int nnb_test_register_engine(void);
int nnb_test_register_io(void);
int nnb_test_register_cli(void);
int nnb_test_register_hdf5_inputs(void);
int nnb_test_register_keras(void);
int nnb_test_register_fuzz_regressions(void);

#endif
