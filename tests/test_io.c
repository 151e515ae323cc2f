/*
 * I/O: the dataset reader converts stored types, reads any row range and
 * reads labels in every accepted form. The output writer stores rows
 * written in any order and leaves nothing at the output path until commit.
 */
#include "fixtures.h"
#include "io/dataset.h"
#include "io/output.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

static int io_cleanup(void)
{
    test_temp_cleanup();
    return 0;
}

/* Write `values` (rows x cols doubles) stored as `file_type`, chunked when
 * chunk_rows > 0. */
static void write_typed(const char *path, const char *name, hid_t file_type, int64_t rows,
                        int64_t cols, const double *values, int64_t chunk_rows)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk_rows > 0) {
        hsize_t chunk[2] = {(hsize_t)chunk_rows, (hsize_t)cols};
        H5Pset_chunk(create, 2, chunk);
        H5Pset_deflate(create, 1);
    }
    hid_t dataset = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, create, H5P_DEFAULT);
    CU_ASSERT_TRUE(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values)
                   >= 0);
    H5Dclose(dataset);
    H5Pclose(create);
    H5Sclose(space);
    H5Fclose(file);
}

static void test_reader_converts_types(void)
{
    const int64_t rows = 50, cols = 6;
    double values[50 * 6];
    for (int i = 0; i < rows * cols; i++)
        values[i] = (double)(i % 200);

    const hid_t types[] = {H5T_STD_U8LE, H5T_STD_I16BE, H5T_STD_I64LE, H5T_IEEE_F64LE,
                           H5T_IEEE_F32BE};
    const char *path = test_temp_path("typed.h5");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        write_typed(path, "x", types[t], rows, cols, values, t % 2 ? 7 : 0);
        nnb_io_dataset_reader *reader = NULL;
        nnb_error error;
        CU_ASSERT_EQUAL_FATAL(nnb_io_dataset_open(path, "x", NULL, cols, 0, &reader, &error),
                              NNB_OK);
        CU_ASSERT_EQUAL(nnb_io_dataset_rows(reader), rows);

        /* An interior row range, into a buffer with a wider row stride. */
        float buffer[13 * 8];
        CU_ASSERT_EQUAL(nnb_io_dataset_read(reader, 11, 13, buffer, 8, NULL, &error), NNB_OK);
        for (int r = 0; r < 13; r++)
            for (int c = 0; c < cols; c++)
                CU_ASSERT_EQUAL(buffer[r * 8 + c], (float)values[(11 + r) * cols + c]);
        nnb_io_dataset_close(reader);
    }
}

static void test_reader_labels_forms(void)
{
    const int64_t rows = 9;
    double x[9 * 2] = {0};
    double labels[9] = {0, 1, 2, 0, 1, 2, 0, 1, 2};
    const char *path = test_temp_path("labels.h5");
    write_typed(path, "x", H5T_IEEE_F32LE, rows, 2, x, 0);

    /* Labels as (rows, 1) float64: same indices as an integer vector. */
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[2] = {(hsize_t)rows, 1};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dataset = H5Dcreate2(file, "y", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Fclose(file);

    nnb_io_dataset_reader *reader = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_io_dataset_open(path, "x", "y", 2, 3, &reader, &error), NNB_OK);
    float features[9 * 2];
    int32_t read_labels[9];
    CU_ASSERT_EQUAL(nnb_io_dataset_read(reader, 0, rows, features, 2, read_labels, &error),
                    NNB_OK);
    for (int i = 0; i < rows; i++)
        CU_ASSERT_EQUAL(read_labels[i], (int32_t)labels[i]);
    nnb_io_dataset_close(reader);

    /* One-hot rows (rows, 3) give the same indices. */
    double one_hot[9 * 3] = {0};
    for (int i = 0; i < rows; i++)
        one_hot[i * 3 + (int)labels[i]] = 1.0;
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t one_hot_dims[2] = {(hsize_t)rows, 3};
    space = H5Screate_simple(2, one_hot_dims, NULL);
    dataset = H5Dcreate2(file, "y_one_hot", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, one_hot);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Fclose(file);
    CU_ASSERT_EQUAL_FATAL(nnb_io_dataset_open(path, "x", "y_one_hot", 2, 3, &reader, &error),
                          NNB_OK);
    memset(read_labels, 0xff, sizeof read_labels);
    CU_ASSERT_EQUAL(nnb_io_dataset_read(reader, 2, 7, features, 2, read_labels, &error), NNB_OK);
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(read_labels[i], (int32_t)labels[2 + i]);
    nnb_io_dataset_close(reader);

    /* With only 2 classes, label 2 at row 2 is rejected. */
    CU_ASSERT_EQUAL_FATAL(nnb_io_dataset_open(path, "x", "y", 2, 2, &reader, &error), NNB_OK);
    CU_ASSERT_EQUAL(nnb_io_dataset_read(reader, 0, rows, features, 2, read_labels, &error),
                    NNB_ERR_LABEL);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "row 2"));
    nnb_io_dataset_close(reader);
}

static void test_reader_rank_errors(void)
{
    const char *path = test_temp_path("rank3.h5");
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {4, 28, 28};
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dataset = H5Dcreate2(file, "images", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
    H5Dclose(dataset);
    H5Sclose(space);
    space = H5Screate(H5S_SCALAR);
    dataset = H5Dcreate2(file, "scalar", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Fclose(file);

    nnb_io_dataset_reader *reader = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL(nnb_io_dataset_open(path, "images", NULL, 784, 0, &reader, &error),
                    NNB_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "reshape it to (4, 784)"));
    CU_ASSERT_EQUAL(nnb_io_dataset_open(path, "scalar", NULL, 1, 0, &reader, &error),
                    NNB_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "rank 0"));
    CU_ASSERT_PTR_NULL(reader);
}

static void test_output_abort_leaves_nothing(void)
{
    const char *path = test_temp_path("aborted.h5");
    const char *names[] = {"p"};
    const int64_t widths[] = {3};
    nnb_io_output *output = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_io_output_create(path, NULL, 4, 1, names, widths, &output, &error),
                          NNB_OK);
    float rows[6] = {1, 2, 3, 4, 5, 6};
    CU_ASSERT_EQUAL(nnb_io_output_write(output, 0, 0, 2, rows, 3, &error), NNB_OK);
    CU_ASSERT_FALSE(test_file_exists(path));
    nnb_io_output_abort(output);
    CU_ASSERT_FALSE(test_file_exists(path));
}

static void test_output_commit_replaces(void)
{
    const char *path = test_temp_path("committed.h5");
    float old_rows[2] = {9, 9};
    CU_ASSERT_EQUAL_FATAL(test_write_matrix(path, 1, "p", 1, 2, old_rows), 0);

    const char *names[] = {"p"};
    const int64_t widths[] = {2};
    nnb_io_output *output = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_io_output_create(path, NULL, 3, 1, names, widths, &output, &error),
                          NNB_OK);
    float rows[3 * 4] = {1, 2, -1, -1, 3, 4, -1, -1, 5, 6, -1, -1};
    CU_ASSERT_EQUAL(nnb_io_output_write(output, 0, 0, 3, rows, 4, &error), NNB_OK);

    /* Until commit, the previous complete file stays in place. */
    int64_t r, c;
    float *before = test_read_matrix(path, "p", &r, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_EQUAL(r, 1);
    free(before);

    CU_ASSERT_EQUAL(nnb_io_output_commit(output, &error), NNB_OK);
    float *after = test_read_matrix(path, "p", &r, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT_EQUAL(r, 3);
    CU_ASSERT_EQUAL(c, 2);
    const float expected[6] = {1, 2, 3, 4, 5, 6};
    CU_ASSERT_EQUAL(memcmp(after, expected, sizeof expected), 0);
    free(after);
}

/* Write rows of a (rows, width) output in the given (first, count) pieces
 * and check every row reads back. With width 65536, 1 MiB chunks hold 4
 * rows, so pieces cross chunks, start inside them and arrive out of order. */
static void write_pieces_and_check(const char *path, int64_t rows, const int64_t (*pieces)[2],
                                   int piece_count)
{
    const int64_t width = 65536;
    const char *names[] = {"p"};
    const int64_t widths[] = {width};
    float *data = malloc((size_t)(rows * width) * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (int64_t i = 0; i < rows * width; i++)
        data[i] = (float)(i % 1000003);

    nnb_io_output *output = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_io_output_create(path, NULL, rows, 1, names, widths, &output,
                                               &error),
                          NNB_OK);
    for (int p = 0; p < piece_count; p++) {
        int64_t first = pieces[p][0];
        CU_ASSERT_EQUAL(nnb_io_output_write(output, 0, first, pieces[p][1],
                                            data + first * width, width, &error),
                        NNB_OK);
    }
    CU_ASSERT_EQUAL_FATAL(nnb_io_output_commit(output, &error), NNB_OK);

    int64_t read_rows, read_cols;
    float *stored = test_read_matrix(path, "p", &read_rows, &read_cols);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stored);
    CU_ASSERT_EQUAL(read_rows, rows);
    CU_ASSERT_EQUAL(read_cols, width);
    CU_ASSERT_EQUAL(memcmp(stored, data, (size_t)(rows * width) * sizeof(float)), 0);
    free(stored);
    free(data);
}

static void test_output_writes_any_order(void)
{
    const char *path = test_temp_path("pieces.h5");

    /* In order, in pieces that end inside chunks; the last chunk is partial. */
    const int64_t in_order[][2] = {{0, 3}, {3, 3}, {6, 1}, {7, 3}};
    write_pieces_and_check(path, 10, in_order, 4);

    /* Out of order, starting inside a chunk, and one chunk in two halves
     * written back to front. */
    const int64_t shuffled[][2] = {{6, 4}, {0, 2}, {4, 2}, {2, 2}};
    write_pieces_and_check(path, 10, shuffled, 4);
}

int nnb_test_register_io(void)
{
    CU_pSuite suite = CU_add_suite("io", NULL, io_cleanup);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "reader converts types", test_reader_converts_types) == NULL;
    failed |= CU_add_test(suite, "reader labels forms", test_reader_labels_forms) == NULL;
    failed |= CU_add_test(suite, "reader rank errors", test_reader_rank_errors) == NULL;
    failed |= CU_add_test(suite, "output abort leaves nothing", test_output_abort_leaves_nothing)
              == NULL;
    failed |= CU_add_test(suite, "output commit replaces", test_output_commit_replaces) == NULL;
    failed |= CU_add_test(suite, "output writes any order", test_output_writes_any_order)
              == NULL;
    return failed ? -1 : 0;
}
