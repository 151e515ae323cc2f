/*
 * HDF5 inputs as users write them. Every stored type, layout and filter must
 * score to the same bits as a plain little-endian float32 copy of the data,
 * and labels stored as indices or one-hot must give the same loss. Chunks
 * must be decoded once per run, not once per block. Bad files, bad output
 * paths and a killed run must fail cleanly: one message, non-zero exit, no
 * file at the output path, nothing printed by HDF5.
 *
 * Scoring runs in-process through nnb_score_file(); the failure cases run the
 * command-line program $NNB_CLI (else build/nnbatch) as a child. Tests that
 * need an HDF5 plugin or root (for a tmpfs mount) pass with a message when
 * they cannot run.
 */
#include "fixtures.h"
#include "io/dataset.h"
#include "suites.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Narrow model: types, labels, filters and failures. One block per run. */
#define NARROW_IN 16
#define NARROW_HIDDEN 24
#define CLASSES 5
#define NARROW_ROWS 2000

/* Wide model: layouts and chunk decoding. 256 float32 features make the
 * engine's 4 MiB blocks about 4096 rows, so WIDE_ROWS spans three blocks. */
#define WIDE_IN 256
#define WIDE_HIDDEN 8
#define WIDE_ROWS 9000

/* Filter ids from HDF5's range for testing (256 to 511). */
#define COUNTING_FILTER_ID 300
#define MISSING_FILTER_ID 301

typedef struct model_fixture {
    float weight1[NARROW_HIDDEN * WIDE_IN];
    float bias1[NARROW_HIDDEN];
    float weight2[CLASSES * NARROW_HIDDEN];
    float bias2[CLASSES];
    test_layer layers[2];
    test_mlp mlp;
    nnb_model *model;
    nnb_run *run;
} model_fixture;

static model_fixture narrow, wide;
static int32_t narrow_labels[NARROW_ROWS];
static int32_t wide_labels[WIDE_ROWS];

/* Wide features: small whole numbers, exact in every stored type. */
static float *wide_features;
static char model_path[512];

static char cli_stderr[4096];

/* File size limit (RLIMIT_FSIZE) for the CLI children, 0 for none. */
static long cli_file_size_limit;

static void model_fixture_init(model_fixture *f, int64_t in, int64_t hidden, uint32_t seed,
                               float scale)
{
    test_fill_random(f->weight1, hidden * in, seed, scale);
    test_fill_random(f->bias1, hidden, seed + 1, 0.1f);
    test_fill_random(f->weight2, CLASSES * hidden, seed + 2, 0.5f);
    test_fill_random(f->bias2, CLASSES, seed + 3, 0.1f);
    f->layers[0] = (test_layer){in, hidden, f->weight1, f->bias1, NNB_OP_TANH};
    f->layers[1] = (test_layer){hidden, CLASSES, f->weight2, f->bias2, NNB_OP_COUNT};
    f->mlp = (test_mlp){in, f->layers, 2, 1};
    f->model = test_mlp_model(&f->mlp);
}

/* Runs with small tiles on two threads, so a block holds many tiles. */
static int model_fixture_run(model_fixture *f)
{
    nnb_options options;
    nnb_options_init(&options);
    options.threads = 2;
    options.tile_rows = 5;
    nnb_error error;
    return nnb_run_create(f->model, &options, &f->run, &error) == NNB_OK ? 0 : -1;
}

static int inputs_setup(void)
{
    model_fixture_init(&narrow, NARROW_IN, NARROW_HIDDEN, 31, 0.4f);
    model_fixture_init(&wide, WIDE_IN, WIDE_HIDDEN, 41, 0.01f);
    if (model_fixture_run(&narrow) != 0 || model_fixture_run(&wide) != 0)
        return -1;

    for (int i = 0; i < NARROW_ROWS; i++)
        narrow_labels[i] = (i * 7 + 3) % CLASSES;
    for (int i = 0; i < WIDE_ROWS; i++)
        wide_labels[i] = (i * 3 + 1) % CLASSES;
    wide_features = malloc((size_t)WIDE_ROWS * WIDE_IN * sizeof(float));
    if (wide_features == NULL)
        return -1;
    for (int64_t i = 0; i < (int64_t)WIDE_ROWS * WIDE_IN; i++)
        wide_features[i] = (float)((i * 37 + i / WIDE_IN) % 128);

    snprintf(model_path, sizeof model_path, "%s", test_temp_path("narrow-model.h5"));
    return test_mlp_write(&narrow.mlp, model_path);
}

static int inputs_cleanup(void)
{
    nnb_run_free(narrow.run);
    nnb_run_free(wide.run);
    nnb_model_free(narrow.model);
    nnb_model_free(wide.model);
    free(wide_features);
    wide_features = NULL;
    test_temp_cleanup();
    return 0;
}

/* ---- Writing datasets ------------------------------------------------------ */

/* Storage of a test dataset: chunk shape (rank 0 for contiguous), whether
 * the first dimension is unlimited, and filters to apply. */
typedef struct storage {
    int chunk_rank;
    hsize_t chunk[2];
    int unlimited;
    int shuffle;
    int deflate;           /* gzip level, 0 for none */
    int fletcher32;
    H5Z_filter_t filter;   /* one more filter, 0 for none */
    unsigned filter_value; /* its one client-data value */
} storage;

static const storage CONTIGUOUS = {0};

/* Write dataset `name` of `rank` (1 or 2) and shape `dims`, stored as
 * `file_type`, from `data` in memory type `memory_type`. An unlimited
 * dataset is written in three appends, as a logger extending it would. */
static int write_dataset(const char *path, int create_file, const char *name, hid_t file_type,
                         int rank, const hsize_t *dims, const storage *layout,
                         hid_t memory_type, const void *data)
{
    hid_t file = create_file ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)
                             : H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0)
        return -1;

    hsize_t max_dims[2] = {layout->unlimited ? H5S_UNLIMITED : dims[0], rank > 1 ? dims[1] : 1};
    hsize_t start_dims[2] = {layout->unlimited ? 0 : dims[0], rank > 1 ? dims[1] : 1};
    hid_t space = H5Screate_simple(rank, start_dims, max_dims);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    int failed = space < 0 || create < 0;
    if (layout->chunk_rank > 0)
        failed |= H5Pset_chunk(create, layout->chunk_rank, layout->chunk) < 0;
    if (layout->shuffle)
        failed |= H5Pset_shuffle(create) < 0;
    if (layout->deflate > 0)
        failed |= H5Pset_deflate(create, (unsigned)layout->deflate) < 0;
    if (layout->filter != 0) {
        failed |= H5Pset_filter(create, layout->filter, H5Z_FLAG_MANDATORY, 1,
                                &layout->filter_value) < 0;
    }
    if (layout->fletcher32)
        failed |= H5Pset_fletcher32(create) < 0;

    hid_t dataset = failed ? H5I_INVALID_HID
                           : H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, create,
                                        H5P_DEFAULT);
    failed |= dataset < 0;

    /* Contiguous and fixed-size datasets in one write; unlimited ones in
     * three appends of uneven size. */
    size_t row_bytes = H5Tget_size(memory_type) * (rank > 1 ? dims[1] : 1);
    hsize_t appends[3] = {dims[0] / 3 + 1, dims[0] / 2, 0};
    if (dims[0] > 0)
        appends[2] = dims[0] - appends[0] - appends[1];
    int pieces = layout->unlimited ? 3 : 1;
    if (dims[0] == 0)
        pieces = 0;
    hsize_t written = 0;
    for (int p = 0; p < pieces && !failed; p++) {
        hsize_t count = layout->unlimited ? appends[p] : dims[0];
        hsize_t extent[2] = {written + count, start_dims[1]};
        if (layout->unlimited && H5Dset_extent(dataset, extent) < 0) {
            failed = 1;
            break;
        }
        hid_t file_space = H5Dget_space(dataset);
        hsize_t offset[2] = {written, 0};
        hsize_t size[2] = {count, start_dims[1]};
        hid_t memory_space = H5Screate_simple(rank, size, NULL);
        failed |= H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, NULL, size, NULL) < 0;
        failed |= H5Dwrite(dataset, memory_type, memory_space, file_space, H5P_DEFAULT,
                           (const char *)data + written * row_bytes) < 0;
        H5Sclose(memory_space);
        H5Sclose(file_space);
        written += count;
    }

    if (dataset >= 0)
        H5Dclose(dataset);
    if (create >= 0)
        H5Pclose(create);
    if (space >= 0)
        H5Sclose(space);
    failed |= H5Fclose(file) < 0;
    return failed ? -1 : 0;
}

static int write_matrix(const char *path, int create_file, const char *name, hid_t file_type,
                        int64_t rows, int64_t cols, const storage *layout, hid_t memory_type,
                        const void *data)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    return write_dataset(path, create_file, name, file_type, 2, dims, layout, memory_type, data);
}

static int write_vector(const char *path, const char *name, hid_t file_type, int64_t rows,
                        const storage *layout, hid_t memory_type, const void *data)
{
    hsize_t dims[1] = {(hsize_t)rows};
    return write_dataset(path, 0, name, file_type, 1, dims, layout, memory_type, data);
}

/* ---- Scoring and comparing -------------------------------------------------- */

static nnb_status score(nnb_run *run, const char *data, const char *input, const char *labels,
                        const char *output, nnb_error *error)
{
    nnb_file_request request = {data, input, labels, output};
    nnb_summary summary;
    return nnb_score_file(run, &request, &summary, error);
}

/* Assert that two float32 datasets hold the same shape and bits. */
static void assert_same_dataset(const char *expected_path, const char *actual_path,
                                const char *name)
{
    int64_t expected_rows, expected_cols, rows, cols;
    float *expected = test_read_matrix(expected_path, name, &expected_rows, &expected_cols);
    float *actual = test_read_matrix(actual_path, name, &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL(expected);
    CU_ASSERT_PTR_NOT_NULL(actual);
    if (expected != NULL && actual != NULL) {
        CU_ASSERT_EQUAL(rows, expected_rows);
        CU_ASSERT_EQUAL(cols, expected_cols);
        if (rows == expected_rows && cols == expected_cols) {
            size_t bytes = (size_t)(rows * cols) * sizeof(float);
            CU_ASSERT_EQUAL(memcmp(actual, expected, bytes), 0);
        }
    }
    free(expected);
    free(actual);
}

static void assert_same_attribute(const char *expected_path, const char *actual_path,
                                  const char *name)
{
    double expected = NAN, actual = NAN;
    CU_ASSERT_EQUAL(test_read_root_double(expected_path, name, &expected), 0);
    CU_ASSERT_EQUAL(test_read_root_double(actual_path, name, &actual), 0);
    CU_ASSERT_EQUAL(memcmp(&actual, &expected, sizeof actual), 0);
}

/* Assert that the output files of two runs with labels hold the same bits:
 * every output dataset, the mean loss and the accuracy. */
static void assert_same_outputs(const char *expected_path, const char *actual_path)
{
    assert_same_dataset(expected_path, actual_path, "logits");
    assert_same_dataset(expected_path, actual_path, "probabilities");
    assert_same_dataset(expected_path, actual_path, "loss");
    assert_same_attribute(expected_path, actual_path, "mean_loss");
    assert_same_attribute(expected_path, actual_path, "accuracy");
}

/* Score `input` with narrow labels from `data` and compare with the
 * reference output; `what` names the case when scoring fails. */
static void score_and_compare(model_fixture *f, const char *data, const char *input,
                              const char *labels, const char *reference, const char *what)
{
    char output[600];
    snprintf(output, sizeof output, "%s", test_temp_path("variant-out.h5"));
    nnb_error error;
    nnb_status status = score(f->run, data, input, labels, output, &error);
    CU_ASSERT_EQUAL(status, NNB_OK);
    if (status != NNB_OK) {
        fprintf(stderr, "\n  %s: %s\n", what, error.message);
        return;
    }
    assert_same_outputs(reference, output);
}

/* ---- Stored types ------------------------------------------------------------ */

/* Values a stored type gets: floats with more precision than float32
 * holds, or whole numbers every signed (or every unsigned) type holds. */
typedef enum value_kind { VALUES_FLOAT, VALUES_SIGNED, VALUES_UNSIGNED } value_kind;

typedef struct stored_type {
    const char *name;
    hid_t (*type)(void);
    value_kind values;
} stored_type;

/* The H5T_* names are macros that read library globals, so wrap them. */
static hid_t type_f32be(void) { return H5T_IEEE_F32BE; }
static hid_t type_f64le(void) { return H5T_IEEE_F64LE; }
static hid_t type_f64be(void) { return H5T_IEEE_F64BE; }
static hid_t type_i8(void) { return H5T_STD_I8LE; }
static hid_t type_u8(void) { return H5T_STD_U8LE; }
static hid_t type_i16(void) { return H5T_STD_I16BE; }
static hid_t type_u16(void) { return H5T_STD_U16LE; }
static hid_t type_i32(void) { return H5T_STD_I32LE; }
static hid_t type_u32(void) { return H5T_STD_U32BE; }
static hid_t type_i64(void) { return H5T_STD_I64BE; }
static hid_t type_u64(void) { return H5T_STD_U64LE; }

static void test_stored_types_match_float32(void)
{
    /* Grouped by the values they hold, which share one float32 copy. */
    static const stored_type types[] = {
        {"float32 big-endian", type_f32be, VALUES_FLOAT},
        {"float64", type_f64le, VALUES_FLOAT},
        {"float64 big-endian", type_f64be, VALUES_FLOAT},
        {"int8", type_i8, VALUES_SIGNED},
        {"int16 big-endian", type_i16, VALUES_SIGNED},
        {"int32", type_i32, VALUES_SIGNED},
        {"int64 big-endian", type_i64, VALUES_SIGNED},
        {"uint8", type_u8, VALUES_UNSIGNED},
        {"uint16", type_u16, VALUES_UNSIGNED},
        {"uint32 big-endian", type_u32, VALUES_UNSIGNED},
        {"uint64", type_u64, VALUES_UNSIGNED},
    };
    static double values[NARROW_ROWS * NARROW_IN];
    static float copy[NARROW_ROWS * NARROW_IN];
    char path[600], reference[600];
    snprintf(reference, sizeof reference, "%s", test_temp_path("types-reference.h5"));

    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        /* For each kind of values, the plain little-endian float32 copy,
         * contiguous, scored into the reference. The float64 cases then
         * check HDF5's rounding to float32 against C's (float) cast. */
        if (t == 0 || types[t].values != types[t - 1].values) {
            snprintf(path, sizeof path, "%s", test_temp_path("types.h5"));
            test_fill_random(copy, NARROW_ROWS * NARROW_IN, 51, 2.0f);
            for (int i = 0; i < NARROW_ROWS * NARROW_IN; i++) {
                if (types[t].values == VALUES_FLOAT)
                    values[i] = (double)copy[i] * (1.0 + 1e-7 / 3.0);
                else
                    values[i] = (double)(i % 127 - (types[t].values == VALUES_SIGNED ? 63 : 0));
                copy[i] = (float)values[i];
            }
            CU_ASSERT_EQUAL_FATAL(write_matrix(path, 1, "copy", H5T_IEEE_F32LE, NARROW_ROWS,
                                               NARROW_IN, &CONTIGUOUS, H5T_NATIVE_FLOAT, copy),
                                  0);
            CU_ASSERT_EQUAL_FATAL(write_vector(path, "y", H5T_STD_I32LE, NARROW_ROWS,
                                               &CONTIGUOUS, H5T_NATIVE_INT32, narrow_labels),
                                  0);
            nnb_error error;
            nnb_status status = score(narrow.run, path, "copy", "y", reference, &error);
            if (status != NNB_OK)
                fprintf(stderr, "\n  reference: %s\n", error.message);
            CU_ASSERT_EQUAL_FATAL(status, NNB_OK);
        }

        /* The stored type, contiguous and in chunks of 7 rows. */
        char chunked_name[64];
        snprintf(chunked_name, sizeof chunked_name, "%s chunked", types[t].name);
        storage chunked = {.chunk_rank = 2, .chunk = {7, NARROW_IN}};
        CU_ASSERT_EQUAL_FATAL(write_matrix(path, 0, types[t].name, types[t].type(), NARROW_ROWS,
                                           NARROW_IN, &CONTIGUOUS, H5T_NATIVE_DOUBLE, values),
                              0);
        CU_ASSERT_EQUAL_FATAL(write_matrix(path, 0, chunked_name, types[t].type(), NARROW_ROWS,
                                           NARROW_IN, &chunked, H5T_NATIVE_DOUBLE, values),
                              0);
        score_and_compare(&narrow, path, types[t].name, "y", reference, types[t].name);
        score_and_compare(&narrow, path, chunked_name, "y", reference, chunked_name);
    }
}

/* ---- Layouts ------------------------------------------------------------------ */

/* Write `features` (WIDE_ROWS x WIDE_IN) as a contiguous float32 dataset
 * "copy" with int32 labels "y", score it into `reference`, and return the
 * data file's path in `data`. */
static void write_wide_reference(char *data, size_t data_size, char *reference,
                                 size_t reference_size, const float *features)
{
    snprintf(data, data_size, "%s", test_temp_path("wide.h5"));
    snprintf(reference, reference_size, "%s", test_temp_path("wide-reference.h5"));
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 1, "copy", H5T_IEEE_F32LE, WIDE_ROWS, WIDE_IN,
                                       &CONTIGUOUS, H5T_NATIVE_FLOAT, features),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_vector(data, "y", H5T_STD_I32LE, WIDE_ROWS, &CONTIGUOUS,
                                       H5T_NATIVE_INT32, wide_labels),
                          0);
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(score(wide.run, data, "copy", "y", reference, &error), NNB_OK);
}

static void test_layouts_match_float32(void)
{
    char data[600], reference[600];
    write_wide_reference(data, sizeof data, reference, sizeof reference, wide_features);

    /* A chunk of 1100 rows x 256 float32 is 1.1 MiB, more than HDF5's
     * default 1 MiB chunk cache. The unlimited dataset's 4096-row chunks are
     * larger than its first append. Chunks of (50, 100) split every row in
     * three. */
    static const struct {
        const char *name;
        storage layout;
    } layouts[] = {
        {"chunks-7", {.chunk_rank = 2, .chunk = {7, WIDE_IN}}},
        {"chunks-1mib", {.chunk_rank = 2, .chunk = {1100, WIDE_IN}}},
        {"chunks-columns", {.chunk_rank = 2, .chunk = {50, 100}}},
        {"unlimited", {.chunk_rank = 2, .chunk = {64, WIDE_IN}, .unlimited = 1}},
        {"unlimited-large-chunks", {.chunk_rank = 2, .chunk = {4096, WIDE_IN}, .unlimited = 1}},
    };
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, layouts[l].name, H5T_IEEE_F32LE, WIDE_ROWS,
                                           WIDE_IN, &layouts[l].layout, H5T_NATIVE_FLOAT,
                                           wide_features),
                              0);
        score_and_compare(&wide, data, layouts[l].name, "y", reference, layouts[l].name);
    }
}

/* Chunks never written read as the fill value (0), whether the reader
 * copies whole chunks from the file or goes through HDF5's hyperslab read:
 * the dataset has 64-row chunks with rows 128 to 1279 never written. */
static void test_unwritten_chunks_read_as_zero(void)
{
    char data[600], reference[600];
    const int64_t gap_first = 128, gap_end = 1280;
    float *zeroed = malloc(sizeof(float) * WIDE_ROWS * WIDE_IN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(zeroed);
    memcpy(zeroed, wide_features, sizeof(float) * WIDE_ROWS * WIDE_IN);
    memset(zeroed + gap_first * WIDE_IN, 0,
           sizeof(float) * (size_t)((gap_end - gap_first) * WIDE_IN));
    write_wide_reference(data, sizeof data, reference, sizeof reference, zeroed);

    /* The chunked copy: create it, then write the rows around the gap. */
    hid_t file = H5Fopen(data, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[2] = {WIDE_ROWS, WIDE_IN}, chunk[2] = {64, WIDE_IN};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    CU_ASSERT(H5Pset_chunk(create, 2, chunk) >= 0);
    hid_t dataset = H5Dcreate2(file, "sparse", H5T_IEEE_F32LE, space, H5P_DEFAULT, create,
                               H5P_DEFAULT);
    CU_ASSERT_FATAL(dataset >= 0);
    const int64_t pieces[2][2] = {{0, gap_first}, {gap_end, WIDE_ROWS}};
    for (int p = 0; p < 2; p++) {
        hsize_t offset[2] = {(hsize_t)pieces[p][0], 0};
        hsize_t size[2] = {(hsize_t)(pieces[p][1] - pieces[p][0]), WIDE_IN};
        hid_t memory = H5Screate_simple(2, size, NULL);
        CU_ASSERT(H5Sselect_hyperslab(space, H5S_SELECT_SET, offset, NULL, size, NULL) >= 0);
        CU_ASSERT(H5Dwrite(dataset, H5T_NATIVE_FLOAT, memory, space, H5P_DEFAULT,
                           wide_features + pieces[p][0] * WIDE_IN) >= 0);
        H5Sclose(memory);
    }
    H5Dclose(dataset);
    H5Pclose(create);
    H5Sclose(space);
    H5Fclose(file);

    score_and_compare(&wide, data, "sparse", "y", reference, "unwritten chunks");
    free(zeroed);
}

/* Lower by `shrink` bytes the size that the version 1 B-tree of rank-2
 * dataset `name` records for chunk `index`, as a damaged file would have
 * it. Keys of a raw-data node (type 1) follow a 24-byte header, 40 bytes
 * each with the child address: chunk size (4 bytes), filter mask (4),
 * three offsets (8 each), then the address (8), all little-endian. Returns
 * 0 when one key was changed. */
static int shrink_recorded_chunk_size(const char *path, const char *name, hsize_t index,
                                      uint32_t shrink)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(dataset);
    hsize_t offset[2], size = 0;
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    herr_t found = H5Dget_chunk_info(dataset, space, index, offset, &mask, &address, &size);
    H5Sclose(space);
    H5Dclose(dataset);
    H5Fclose(file);
    if (found < 0)
        return -1;

    FILE *f = fopen(path, "r+b");
    if (f == NULL)
        return -1;
    static unsigned char bytes[1 << 22];
    size_t length = fread(bytes, 1, sizeof bytes, f);
    int changed = 0;
    for (size_t i = 0; i + 24 <= length; i++) {
        if (memcmp(bytes + i, "TREE", 4) != 0 || bytes[i + 4] != 1 || bytes[i + 5] != 0)
            continue;
        uint16_t entries;
        memcpy(&entries, bytes + i + 6, sizeof entries);
        for (size_t e = 0; e < entries && i + 24 + 40 * (e + 1) <= length; e++) {
            size_t key = i + 24 + 40 * e;
            uint64_t child;
            uint32_t recorded;
            memcpy(&child, bytes + key + 32, sizeof child);
            if (child != address)
                continue;
            memcpy(&recorded, bytes + key, sizeof recorded);
            recorded -= shrink;
            changed += fseek(f, (long)key, SEEK_SET) == 0
                       && fwrite(&recorded, sizeof recorded, 1, f) == 1;
        }
    }
    fclose(f);
    return changed == 1 ? 0 : -1;
}

/* An unfiltered chunk whose recorded size is smaller than its values would
 * be read partly into uninitialized memory; the reader rejects it. */
static void test_chunk_size_mismatch_fails(void)
{
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("chunk-size.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("chunk-size-out.h5"));
    const storage layout = {.chunk_rank = 2, .chunk = {1024, WIDE_IN}};
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 1, "x", H5T_IEEE_F32LE, WIDE_ROWS, WIDE_IN, &layout,
                                       H5T_NATIVE_FLOAT, wide_features),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_vector(data, "y", H5T_STD_I32LE, WIDE_ROWS, &CONTIGUOUS,
                                       H5T_NATIVE_INT32, wide_labels),
                          0);
    CU_ASSERT_EQUAL_FATAL(shrink_recorded_chunk_size(data, "x", 1, 400), 0);

    nnb_error error;
    nnb_status status = score(wide.run, data, "x", "y", output, &error);
    CU_ASSERT_EQUAL(status, NNB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "chunk at row 1024"));
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "the file is damaged"));
    CU_ASSERT_FALSE(test_file_exists(output));
}

/* ---- Decoding each chunk once ----------------------------------------------- */

/* Decode calls of the counting filter, by the client-data value each
 * dataset was written with (0 features, 1 labels). */
static long decode_calls[2];

/* A pass-through filter that counts how often HDF5 decodes a chunk. */
static size_t counting_filter(unsigned flags, size_t value_count, const unsigned values[],
                              size_t bytes, size_t *buffer_size, void **buffer)
{
    (void)buffer_size;
    (void)buffer;
    if ((flags & H5Z_FLAG_REVERSE) && value_count > 0 && values[0] < 2)
        decode_calls[values[0]]++;
    return bytes;
}

static const H5Z_class2_t counting_filter_class = {
    H5Z_CLASS_T_VERS, COUNTING_FILTER_ID, 1, 1, "nnbatch test counter", NULL, NULL,
    counting_filter,
};

static void test_chunks_decoded_once(void)
{
    CU_ASSERT_TRUE_FATAL(H5Zregister(&counting_filter_class) >= 0);
    char data[600], reference[600];
    write_wide_reference(data, sizeof data, reference, sizeof reference, wide_features);

    /* Features in 7-row chunks: the engine aligns its blocks to them. Labels
     * as float64 in one 1.2 MB chunk (150000 rows of an unlimited dataset),
     * larger than HDF5's default chunk cache and not aligned to the blocks,
     * so every block reads part of it. */
    storage features_layout = {.chunk_rank = 2, .chunk = {7, WIDE_IN},
                               .filter = COUNTING_FILTER_ID, .filter_value = 0};
    storage labels_layout = {.chunk_rank = 1, .chunk = {150000}, .unlimited = 1,
                             .filter = COUNTING_FILTER_ID, .filter_value = 1};
    static double label_values[WIDE_ROWS];
    for (int i = 0; i < WIDE_ROWS; i++)
        label_values[i] = wide_labels[i];
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, "counted", H5T_STD_U8LE, WIDE_ROWS, WIDE_IN,
                                       &features_layout, H5T_NATIVE_FLOAT, wide_features),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_vector(data, "counted-labels", H5T_IEEE_F64LE, WIDE_ROWS,
                                       &labels_layout, H5T_NATIVE_DOUBLE, label_values),
                          0);

    decode_calls[0] = decode_calls[1] = 0;
    score_and_compare(&wide, data, "counted", "counted-labels", reference, "counting filter");
    CU_ASSERT_EQUAL(decode_calls[0], (WIDE_ROWS + 6) / 7);
    CU_ASSERT_EQUAL(decode_calls[1], 1);
    if (decode_calls[0] != (WIDE_ROWS + 6) / 7 || decode_calls[1] != 1) {
        fprintf(stderr, "\n  decoded %ld feature chunks (of %d) and %ld label chunks (of 1)\n",
                decode_calls[0], (WIDE_ROWS + 6) / 7, decode_calls[1]);
    }
    H5Zunregister(COUNTING_FILTER_ID);
}

/* ---- Filters ------------------------------------------------------------------- */

static void write_narrow_reference(const char *data, const char *reference, float *features)
{
    test_fill_random(features, NARROW_ROWS * NARROW_IN, 61, 1.5f);
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 1, "copy", H5T_IEEE_F32LE, NARROW_ROWS, NARROW_IN,
                                       &CONTIGUOUS, H5T_NATIVE_FLOAT, features),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_vector(data, "y", H5T_STD_I32LE, NARROW_ROWS, &CONTIGUOUS,
                                       H5T_NATIVE_INT32, narrow_labels),
                          0);
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(score(narrow.run, data, "copy", "y", reference, &error), NNB_OK);
}

static void test_builtin_filters_match_float32(void)
{
    static float features[NARROW_ROWS * NARROW_IN];
    char data[600], reference[600];
    snprintf(data, sizeof data, "%s", test_temp_path("filters.h5"));
    snprintf(reference, sizeof reference, "%s", test_temp_path("filters-reference.h5"));
    write_narrow_reference(data, reference, features);

    static const struct {
        const char *name;
        storage layout;
    } filters[] = {
        {"gzip", {.chunk_rank = 2, .chunk = {100, NARROW_IN}, .deflate = 6}},
        {"shuffle-gzip", {.chunk_rank = 2, .chunk = {100, NARROW_IN}, .shuffle = 1,
                          .deflate = 4}},
        {"fletcher32", {.chunk_rank = 2, .chunk = {64, NARROW_IN}, .fletcher32 = 1}},
        {"shuffle-gzip-fletcher32", {.chunk_rank = 2, .chunk = {33, 5}, .shuffle = 1,
                                     .deflate = 1, .fletcher32 = 1}},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, filters[i].name, H5T_IEEE_F32LE,
                                           NARROW_ROWS, NARROW_IN, &filters[i].layout,
                                           H5T_NATIVE_FLOAT, features),
                              0);
        score_and_compare(&narrow, data, filters[i].name, "y", reference, filters[i].name);
    }
}

static void test_plugin_filters_match_float32(void)
{
    static float features[NARROW_ROWS * NARROW_IN];
    char data[600], reference[600];
    snprintf(data, sizeof data, "%s", test_temp_path("plugins.h5"));
    snprintf(reference, sizeof reference, "%s", test_temp_path("plugins-reference.h5"));
    write_narrow_reference(data, reference, features);

    /* Debian packages hdf5-filter-plugin (LZ4, bzip2) and hdf5-plugin-lzf
     * (LZF) install these in HDF5's default plugin directory. The client
     * value is each filter's first parameter: LZ4's block size (0 for its
     * default), bzip2's block size in 100 kB, LZF's filter version. */
    static const struct {
        const char *name;
        H5Z_filter_t id;
        unsigned value;
    } plugins[] = {{"LZ4", 32004, 0}, {"bzip2", 307, 9}, {"LZF", 32000, 4}};
    int skipped = 0;
    for (size_t i = 0; i < sizeof plugins / sizeof plugins[0]; i++) {
        nnb_error ignored;
        (void)ignored;
        if (H5Zfilter_avail(plugins[i].id) <= 0) {
            printf("\n    skipped %s: no plugin for HDF5 filter %d", plugins[i].name,
                   (int)plugins[i].id);
            skipped++;
            continue;
        }
        storage layout = {.chunk_rank = 2, .chunk = {128, NARROW_IN}, .filter = plugins[i].id,
                          .filter_value = plugins[i].value};
        CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, plugins[i].name, H5T_IEEE_F32LE,
                                           NARROW_ROWS, NARROW_IN, &layout, H5T_NATIVE_FLOAT,
                                           features),
                              0);
        score_and_compare(&narrow, data, plugins[i].name, "y", reference, plugins[i].name);
    }
    if (skipped > 0)
        CU_PASS("some HDF5 filter plugins are not installed; their cases were skipped");
}

/* ---- Labels ------------------------------------------------------------------------ */

static void test_label_forms_same_loss(void)
{
    static float features[NARROW_ROWS * NARROW_IN];
    char data[600], reference[600];
    snprintf(data, sizeof data, "%s", test_temp_path("label-forms.h5"));
    snprintf(reference, sizeof reference, "%s", test_temp_path("label-forms-reference.h5"));
    write_narrow_reference(data, reference, features);

    static double indices[NARROW_ROWS];
    static double one_hot[NARROW_ROWS * CLASSES];
    memset(one_hot, 0, sizeof one_hot);
    for (int i = 0; i < NARROW_ROWS; i++) {
        indices[i] = narrow_labels[i];
        one_hot[i * CLASSES + narrow_labels[i]] = 1.0;
    }

    /* The reference reads (rows) int32; each form here must match it. */
    static const struct {
        const char *name;
        int64_t columns; /* 0 for (rows), else (rows, columns) */
        hid_t (*type)(void);
    } forms[] = {
        {"index-float64", 0, type_f64le},   {"column-uint8", 1, type_u8},
        {"column-float64", 1, type_f64be},  {"one-hot-uint8", CLASSES, type_u8},
        {"one-hot-int64", CLASSES, type_i64}, {"one-hot-float64", CLASSES, type_f64le},
    };
    storage chunked = {.chunk_rank = 2, .chunk = {300, CLASSES}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        int status;
        if (forms[i].columns == 0) {
            status = write_vector(data, forms[i].name, forms[i].type(), NARROW_ROWS, &CONTIGUOUS,
                                  H5T_NATIVE_DOUBLE, indices);
        } else {
            const storage *layout = forms[i].columns > 1 && i % 2 ? &chunked : &CONTIGUOUS;
            status = write_matrix(data, 0, forms[i].name, forms[i].type(), NARROW_ROWS,
                                  forms[i].columns, layout, H5T_NATIVE_DOUBLE,
                                  forms[i].columns > 1 ? one_hot : indices);
        }
        CU_ASSERT_EQUAL_FATAL(status, 0);
        score_and_compare(&narrow, data, "copy", forms[i].name, reference, forms[i].name);
    }
}

/* Capture what the calling process writes to stderr between
 * stderr_capture_begin() and stderr_capture_end(), which returns the byte
 * count; HDF5 prints its error stacks there when not silenced. */
static int saved_stderr = -1;

static void stderr_capture_begin(void)
{
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    int capture = open(test_temp_path("stderr-capture.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(capture, STDERR_FILENO);
    close(capture);
}

static long stderr_capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    struct stat info;
    return stat(test_temp_path("stderr-capture.txt"), &info) == 0 ? (long)info.st_size : -1;
}

static void test_one_hot_rejects_bad_rows(void)
{
    static float features[NARROW_ROWS * NARROW_IN];
    char data[600], reference[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("bad-one-hot.h5"));
    snprintf(reference, sizeof reference, "%s", test_temp_path("bad-one-hot-reference.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("bad-one-hot-out.h5"));
    write_narrow_reference(data, reference, features);

    static const struct {
        const char *name;
        int64_t row;
        double values[CLASSES];
        const char *expected;
    } cases[] = {
        {"two-ones", 1234, {0, 1, 0, 1, 0}, "row 1234 is not one-hot: columns 1 and 3 both hold 1"},
        {"all-zero", 7, {0, 0, 0, 0, 0}, "row 7 is not one-hot: every column holds 0"},
        {"soft", 1999, {0.9, 0.1, 0, 0, 0}, "row 1999 is not one-hot: column 0 holds 0.9"},
        {"two", 0, {0, 0, 2, 0, 0}, "row 0 is not one-hot: column 2 holds 2"},
        {"nan", 500, {0, NAN, 1, 0, 0}, "row 500 is not one-hot: column 1 holds nan"},
    };
    static double one_hot[NARROW_ROWS * CLASSES];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(one_hot, 0, sizeof one_hot);
        for (int i = 0; i < NARROW_ROWS; i++)
            one_hot[i * CLASSES + narrow_labels[i]] = 1.0;
        memcpy(one_hot + cases[c].row * CLASSES, cases[c].values, sizeof cases[c].values);
        CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, cases[c].name, H5T_IEEE_F64LE, NARROW_ROWS,
                                           CLASSES, &CONTIGUOUS, H5T_NATIVE_DOUBLE, one_hot),
                              0);

        nnb_error error;
        stderr_capture_begin();
        nnb_status status = score(narrow.run, data, "copy", cases[c].name, output, &error);
        CU_ASSERT_EQUAL(stderr_capture_end(), 0);
        CU_ASSERT_EQUAL(status, NNB_ERR_LABEL);
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, cases[c].expected));
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, cases[c].name));
        if (strstr(error.message, cases[c].expected) == NULL)
            fprintf(stderr, "\n  expected '%s' in: %s\n", cases[c].expected, error.message);
        CU_ASSERT_FALSE(test_file_exists(output));
    }

    /* (rows, classes + 1) is neither indices nor one-hot for this model. */
    static double wide_rows[NARROW_ROWS * (CLASSES + 1)];
    memset(wide_rows, 0, sizeof wide_rows);
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, "six-columns", H5T_IEEE_F64LE, NARROW_ROWS,
                                       CLASSES + 1, &CONTIGUOUS, H5T_NATIVE_DOUBLE, wide_rows),
                          0);
    nnb_error error;
    CU_ASSERT_EQUAL(score(narrow.run, data, "copy", "six-columns", output, &error),
                    NNB_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "has shape (2000, 6)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "one-hot rows as (rows, 5)"));
}

/* ---- Command-line failures ------------------------------------------------------ */

static const char *cli_path(void)
{
    const char *path = getenv("NNB_CLI");
    return path != NULL ? path : "build/nnbatch";
}

/* Start the CLI with `args` (NULL-terminated, after the program name), its
 * stderr going to stderr.txt in the test directory. A child still running
 * after 60 s gets SIGALRM, so a hang fails the test instead of stalling it. */
static pid_t start_cli(const char *const *args)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = cli_path();
    for (int i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    char stderr_path[600];
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", test_temp_dir());
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        dup2(err, STDERR_FILENO);
        dup2(null, STDOUT_FILENO);
        alarm(60);
        if (cli_file_size_limit > 0) {
            /* Writes past the limit then fail with EFBIG instead of
             * raising SIGXFSZ. */
            struct rlimit limit = {(rlim_t)cli_file_size_limit, (rlim_t)cli_file_size_limit};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &limit);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for the CLI; returns its exit status, or -1 when a signal ended it. */
static int finish_cli(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);

    char stderr_path[600];
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", test_temp_dir());
    cli_stderr[0] = '\0';
    FILE *f = fopen(stderr_path, "r");
    if (f != NULL) {
        size_t n = fread(cli_stderr, 1, sizeof cli_stderr - 1, f);
        cli_stderr[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_cli(const char *const *args)
{
    return finish_cli(start_cli(args));
}

/* Count hidden temporary output files (".NAME.tmp-XXXXXX") in `dir`. */
static int temp_files_in(const char *dir)
{
    DIR *listing = opendir(dir);
    int count = 0;
    struct dirent *entry;
    while (listing != NULL && (entry = readdir(listing)) != NULL) {
        if (strstr(entry->d_name, ".tmp-") != NULL)
            count++;
    }
    if (listing != NULL)
        closedir(listing);
    return count;
}

static int count_lines(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p != '\0'; p++)
        lines += *p == '\n';
    return lines;
}

/* Score `input` of `data` (with labels `labels`, may be NULL) into `output`
 * with the CLI and assert a clean failure. That is exit status 1, one line
 * on stderr containing `expected`, no temporary file beside `output`, and
 * nothing at `output` unless `output_is_input`. */
static void cli_must_fail(const char *data, const char *input, const char *labels,
                          const char *output, int output_is_input, const char *expected)
{
    const char *args[12];
    int n = 0;
    args[n++] = "score";
    args[n++] = model_path;
    args[n++] = data;
    args[n++] = "--input";
    args[n++] = input;
    if (labels != NULL) {
        args[n++] = "--labels";
        args[n++] = labels;
    }
    args[n++] = "--output";
    args[n++] = output;
    args[n] = NULL;

    int status = run_cli(args);
    CU_ASSERT_EQUAL(status, 1);
    CU_ASSERT_EQUAL(count_lines(cli_stderr), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, expected));
    if (status != 1 || count_lines(cli_stderr) != 1 || strstr(cli_stderr, expected) == NULL)
        fprintf(stderr, "\n  exit %d, expected '%s' in: %s", status, expected, cli_stderr);
    if (!output_is_input)
        CU_ASSERT_FALSE(test_file_exists(output));

    char directory[600];
    snprintf(directory, sizeof directory, "%s", output);
    char *slash = strrchr(directory, '/');
    if (slash != NULL)
        *slash = '\0';
    CU_ASSERT_EQUAL(temp_files_in(directory), 0);
}

/* A narrow data file as users have them: float32 features in gzip chunks
 * (with `fletcher32`, checksummed too) and uint8 labels. */
static void write_real_data(const char *path, int fletcher32)
{
    static float features[NARROW_ROWS * NARROW_IN];
    static uint8_t labels[NARROW_ROWS];
    test_fill_random(features, NARROW_ROWS * NARROW_IN, 71, 1.0f);
    for (int i = 0; i < NARROW_ROWS; i++)
        labels[i] = (uint8_t)narrow_labels[i];
    storage layout = {.chunk_rank = 2, .chunk = {100, NARROW_IN}, .shuffle = 1, .deflate = 4,
                      .fletcher32 = fletcher32};
    CU_ASSERT_EQUAL_FATAL(write_matrix(path, 1, "x", H5T_IEEE_F32LE, NARROW_ROWS, NARROW_IN,
                                       &layout, H5T_NATIVE_FLOAT, features),
                          0);
    CU_ASSERT_EQUAL_FATAL(write_vector(path, "y", H5T_STD_U8LE, NARROW_ROWS, &CONTIGUOUS,
                                       H5T_NATIVE_UINT8, labels),
                          0);
}

static void test_missing_filter_fails(void)
{
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("missing-filter.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("missing-filter-out.h5"));

    /* Register a pass-through filter, write with it, then unregister it, so
     * the file needs a filter that neither process has. */
    static float features[NARROW_ROWS * NARROW_IN];
    test_fill_random(features, NARROW_ROWS * NARROW_IN, 81, 1.0f);
    H5Z_class2_t missing = counting_filter_class;
    missing.id = MISSING_FILTER_ID;
    missing.name = "nnbatch test filter";
    CU_ASSERT_TRUE_FATAL(H5Zregister(&missing) >= 0);
    storage layout = {.chunk_rank = 2, .chunk = {100, NARROW_IN}, .filter = MISSING_FILTER_ID};
    int written = write_matrix(data, 1, "x", H5T_IEEE_F32LE, NARROW_ROWS, NARROW_IN, &layout,
                               H5T_NATIVE_FLOAT, features);
    CU_ASSERT_TRUE(H5Zunregister(MISSING_FILTER_ID) >= 0);
    CU_ASSERT_EQUAL_FATAL(written, 0);

    nnb_error error;
    stderr_capture_begin();
    nnb_status status = score(narrow.run, data, "x", NULL, output, &error);
    CU_ASSERT_EQUAL(stderr_capture_end(), 0);
    CU_ASSERT_EQUAL(status, NNB_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "HDF5 filter 301 (nnbatch test filter)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "HDF5_PLUGIN_PATH"));

    cli_must_fail(data, "x", NULL, output, 0, "HDF5 filter 301 (nnbatch test filter)");
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "HDF5_PLUGIN_PATH"));
}

static void test_bad_shapes_fail(void)
{
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("shapes.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("shapes-out.h5"));

    hid_t file = H5Fcreate(data, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t dataset = H5Dcreate2(file, "scalar", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT);
    H5Dclose(dataset);
    H5Sclose(space);
    hsize_t cube[3] = {10, 4, 4};
    space = H5Screate_simple(3, cube, NULL);
    dataset = H5Dcreate2(file, "cube", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dclose(dataset);
    H5Sclose(space);
    CU_ASSERT_EQUAL_FATAL(H5Fclose(file), 0);

    /* An extendible dataset that was never extended has zero rows. */
    storage extendible = {.chunk_rank = 2, .chunk = {64, NARROW_IN}, .unlimited = 1};
    float unused = 0.0f;
    CU_ASSERT_EQUAL_FATAL(write_matrix(data, 0, "no-rows", H5T_IEEE_F32LE, 0, NARROW_IN,
                                       &extendible, H5T_NATIVE_FLOAT, &unused),
                          0);

    cli_must_fail(data, "scalar", NULL, output, 0, "'scalar' is a scalar (rank 0)");
    cli_must_fail(data, "cube", NULL, output, 0, "shape (10, 4, 4)");
    CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, "reshape it to (10, 16)"));
    cli_must_fail(data, "no-rows", NULL, output, 0, "'no-rows' is empty");
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    int failed = in == NULL || out == NULL;
    char buffer[65536];
    size_t n;
    while (!failed && (n = fread(buffer, 1, sizeof buffer, in)) > 0)
        failed |= fwrite(buffer, 1, n, out) != n;
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        failed |= fclose(out) != 0;
    return failed ? -1 : 0;
}

/* File offset of the middle of chunk `index` of dataset `name`. */
static long chunk_middle(const char *path, const char *name, hsize_t index)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(dataset);
    hsize_t offset[2];
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t size = 0;
    herr_t result = H5Dget_chunk_info(dataset, space, index, offset, &mask, &address, &size);
    H5Sclose(space);
    H5Dclose(dataset);
    H5Fclose(file);
    return result < 0 ? -1 : (long)(address + size / 2);
}

static void test_damaged_files_fail(void)
{
    char real[600], damaged[600], output[600], reader_output[600];
    snprintf(real, sizeof real, "%s", test_temp_path("real.h5"));
    snprintf(damaged, sizeof damaged, "%s", test_temp_path("damaged.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("damaged-out.h5"));
    snprintf(reader_output, sizeof reader_output, "%s", test_temp_path("damaged-out-2.h5"));

    for (int fletcher32 = 0; fletcher32 <= 1; fletcher32++) {
        write_real_data(real, fletcher32);
        struct stat info;
        CU_ASSERT_EQUAL_FATAL(stat(real, &info), 0);

        /* Cut to half its size: the end of the file, with some chunks and
         * the labels, is gone. */
        CU_ASSERT_EQUAL_FATAL(copy_file(real, damaged), 0);
        CU_ASSERT_EQUAL_FATAL(truncate(damaged, info.st_size / 2), 0);
        nnb_error error;
        stderr_capture_begin();
        nnb_status status = score(narrow.run, damaged, "x", "y", reader_output, &error);
        CU_ASSERT_EQUAL(stderr_capture_end(), 0);
        CU_ASSERT_NOT_EQUAL(status, NNB_OK);
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, damaged));
        cli_must_fail(damaged, "x", "y", output, 0, "cannot open data file: it is truncated, with");
        CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, damaged));

        /* Overwrite 64 bytes in the middle of the middle chunk: gzip's
         * Adler-32 (or Fletcher-32) check rejects it on read. */
        long middle = chunk_middle(real, "x", NARROW_ROWS / 100 / 2);
        CU_ASSERT_TRUE_FATAL(middle > 0);
        CU_ASSERT_EQUAL_FATAL(copy_file(real, damaged), 0);
        FILE *f = fopen(damaged, "r+b");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        char garbage[64];
        memset(garbage, 0xA5, sizeof garbage);
        CU_ASSERT_EQUAL(fseek(f, middle, SEEK_SET), 0);
        CU_ASSERT_EQUAL(fwrite(garbage, 1, sizeof garbage, f), sizeof garbage);
        fclose(f);
        stderr_capture_begin();
        status = score(narrow.run, damaged, "x", "y", reader_output, &error);
        CU_ASSERT_EQUAL(stderr_capture_end(), 0);
        CU_ASSERT_EQUAL(status, NNB_ERR_IO);
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, damaged));
        CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "reading rows"));
        cli_must_fail(damaged, "x", "y", output, 0, "may be truncated or corrupted");
        CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, damaged));
        CU_ASSERT_PTR_NOT_NULL(strstr(cli_stderr, fletcher32 ? "Fletcher32" : "inflate()"));
        CU_ASSERT_FALSE(test_file_exists(reader_output));
    }
}

/* ---- Locks and read-only opens ---------------------------------------------------- */

static void test_inputs_opened_read_only(void)
{
    char data[600];
    snprintf(data, sizeof data, "%s", test_temp_path("read-only.h5"));
    write_real_data(data, 0);

    /* While the reader is open, every file HDF5 has open is read-only, and
     * another process can open the input too (a writer's exclusive lock
     * would stop it). */
    nnb_io_dataset_reader *reader = NULL;
    nnb_error error;
    CU_ASSERT_EQUAL_FATAL(nnb_io_dataset_open(data, "x", "y", NARROW_IN, CLASSES, &reader,
                                              &error),
                          NNB_OK);
    hid_t files[16];
    ssize_t count = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_FILE, 16, files);
    CU_ASSERT_TRUE(count >= 1);
    for (ssize_t i = 0; i < count; i++) {
        unsigned intent = 0;
        CU_ASSERT_TRUE(H5Fget_intent(files[i], &intent) >= 0);
        CU_ASSERT_EQUAL(intent & H5F_ACC_RDWR, 0);
    }

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hid_t file = H5Fopen(data, H5F_ACC_RDONLY, H5P_DEFAULT);
        _exit(file >= 0 && H5Fclose(file) >= 0 ? 0 : 1);
    }
    int status = -1;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    nnb_io_dataset_close(reader);
}

/* Fork a child that keeps `path` open for writing, as another program
 * appending to it would. Returns its pid and stores the pipe that releases
 * it in *release, or returns -1 when the child could not open the file. */
static pid_t hold_open_for_writing(const char *path, int *release)
{
    int ready[2], hold[2];
    if (pipe(ready) != 0)
        return -1;
    if (pipe(hold) != 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        char opened = file >= 0 ? 'y' : 'n';
        if (write(ready[1], &opened, 1) != 1)
            _exit(2);
        char byte;
        while (read(hold[0], &byte, 1) > 0)
            continue;
        if (file >= 0)
            H5Fclose(file);
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char opened = 'n';
    if (pid < 0 || read(ready[0], &opened, 1) != 1 || opened != 'y') {
        close(ready[0]);
        close(hold[1]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return -1;
    }
    close(ready[0]);
    *release = hold[1];
    return pid;
}

static void test_locked_file_fails(void)
{
    const char *locking = getenv("HDF5_USE_FILE_LOCKING");
    if (locking != NULL && (strcmp(locking, "FALSE") == 0 || strcmp(locking, "0") == 0)) {
        CU_PASS("HDF5_USE_FILE_LOCKING turns file locks off; nothing to test");
        return;
    }
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("locked.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("locked-out.h5"));
    write_real_data(data, 0);

    int release = -1;
    pid_t writer = hold_open_for_writing(data, &release);
    if (writer < 0) {
        printf("\n    skipped: cannot open the file for writing in a child process");
        CU_PASS("the file system or HDF5 build does not support the lock; not tested");
        return;
    }

    nnb_error error;
    stderr_capture_begin();
    nnb_status status = score(narrow.run, data, "x", "y", output, &error);
    CU_ASSERT_EQUAL(stderr_capture_end(), 0);
    CU_ASSERT_EQUAL(status, NNB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, "HDF5_USE_FILE_LOCKING"));
    CU_ASSERT_PTR_NOT_NULL(strstr(error.message, data));
    cli_must_fail(data, "x", "y", output, 0, "HDF5_USE_FILE_LOCKING");

    close(release);
    waitpid(writer, NULL, 0);

    /* Once the writer is gone the same file scores. */
    CU_ASSERT_EQUAL(score(narrow.run, data, "x", "y", output, &error), NNB_OK);
}

/* ---- Output paths ------------------------------------------------------------------ */

static void test_output_same_as_input_fails(void)
{
    char data[600], symlink_path[600], hardlink_path[600], model_link[600];
    snprintf(data, sizeof data, "%s", test_temp_path("same.h5"));
    snprintf(symlink_path, sizeof symlink_path, "%s", test_temp_path("same-symlink.h5"));
    snprintf(hardlink_path, sizeof hardlink_path, "%s", test_temp_path("same-hardlink.h5"));
    snprintf(model_link, sizeof model_link, "%s", test_temp_path("model-symlink.h5"));
    write_real_data(data, 0);
    CU_ASSERT_EQUAL_FATAL(symlink(data, symlink_path), 0);
    CU_ASSERT_EQUAL_FATAL(link(data, hardlink_path), 0);
    CU_ASSERT_EQUAL_FATAL(symlink(model_path, model_link), 0);

    struct stat before;
    CU_ASSERT_EQUAL_FATAL(stat(data, &before), 0);
    cli_must_fail(data, "x", "y", data, 1, "output path is the input file");
    cli_must_fail(data, "x", "y", symlink_path, 1, "output path is the input file");
    cli_must_fail(data, "x", "y", hardlink_path, 1, "output path is the input file");
    cli_must_fail(data, "x", "y", model_path, 1, "output path is the model file");
    cli_must_fail(data, "x", "y", model_link, 1, "output path is the model file");

    /* The input is untouched and the links still point at it. */
    struct stat after, linked;
    CU_ASSERT_EQUAL(stat(data, &after), 0);
    CU_ASSERT_EQUAL(after.st_size, before.st_size);
    CU_ASSERT_EQUAL(after.st_mtime, before.st_mtime);
    CU_ASSERT_EQUAL(lstat(symlink_path, &linked), 0);
    CU_ASSERT_TRUE(S_ISLNK(linked.st_mode));
    CU_ASSERT_EQUAL(lstat(model_link, &linked), 0);
    CU_ASSERT_TRUE(S_ISLNK(linked.st_mode));
}

static void test_output_directory_fails(void)
{
    char data[600];
    snprintf(data, sizeof data, "%s", test_temp_path("for-directory.h5"));
    write_real_data(data, 0);
    char directory[600];
    snprintf(directory, sizeof directory, "%s", test_temp_path("a-directory"));
    CU_ASSERT_EQUAL_FATAL(mkdir(directory, 0755), 0);
    cli_must_fail(data, "x", "y", directory, 1, "output path is a directory");
    struct stat info;
    CU_ASSERT_EQUAL(stat(directory, &info), 0);
    CU_ASSERT_TRUE(S_ISDIR(info.st_mode));
}

/* Run `argv` with its output discarded; returns its exit status. */
static int run_quietly(const char *const *argv)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Mount a small tmpfs at `directory` with mount `options`; returns 0 when
 * mounted. Needs root (or CAP_SYS_ADMIN); callers skip otherwise. */
static int mount_tmpfs(const char *directory, const char *options)
{
    if (geteuid() != 0)
        return -1;
    const char *argv[] = {"mount", "-t", "tmpfs", "-o", options, "tmpfs", directory, NULL};
    return run_quietly(argv);
}

static void unmount(const char *directory)
{
    const char *argv[] = {"umount", directory, NULL};
    CU_ASSERT_EQUAL(run_quietly(argv), 0);
}

/* Write BIG_ROWS rows of narrow data to `path`: 40000 rows of 11 float32
 * outputs (logits, probabilities, loss) make 1.7 MB of output. */
enum { BIG_ROWS = 40000 };

static void write_big_data(const char *path)
{
    float *features = malloc((size_t)BIG_ROWS * NARROW_IN * sizeof(float));
    int32_t *labels = malloc((size_t)BIG_ROWS * sizeof(int32_t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(features);
    CU_ASSERT_PTR_NOT_NULL_FATAL(labels);
    test_fill_random(features, (int64_t)BIG_ROWS * NARROW_IN, 91, 1.0f);
    for (int i = 0; i < BIG_ROWS; i++)
        labels[i] = i % CLASSES;
    int written = write_matrix(path, 1, "x", H5T_IEEE_F32LE, BIG_ROWS, NARROW_IN, &CONTIGUOUS,
                               H5T_NATIVE_FLOAT, features);
    written |= write_vector(path, "y", H5T_STD_I32LE, BIG_ROWS, &CONTIGUOUS, H5T_NATIVE_INT32,
                            labels);
    free(features);
    free(labels);
    CU_ASSERT_EQUAL_FATAL(written, 0);
}

static void test_output_file_size_limit_fails(void)
{
    /* The 1.7 MB output does not fit under a 256 KiB file size limit. */
    char data[600], output[600];
    snprintf(data, sizeof data, "%s", test_temp_path("big.h5"));
    snprintf(output, sizeof output, "%s", test_temp_path("too-large.h5"));
    write_big_data(data);
    cli_file_size_limit = 256 << 10;
    cli_must_fail(data, "x", "y", output, 0, "more than the file size limit of 0.3 MB");
    cli_file_size_limit = 0;
}

static void test_output_file_system_errors(void)
{
    /* The 1.7 MB output is more than the 1 MiB file system holds. */
    char data[600], read_only[600], full[600], output[700];
    snprintf(data, sizeof data, "%s", test_temp_path("big.h5"));
    snprintf(read_only, sizeof read_only, "%s", test_temp_path("read-only-fs"));
    snprintf(full, sizeof full, "%s", test_temp_path("full-fs"));
    write_big_data(data);
    CU_ASSERT_EQUAL_FATAL(mkdir(read_only, 0755), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(full, 0755), 0);

    if (mount_tmpfs(read_only, "ro,size=64k") != 0) {
        printf("\n    skipped: mounting a tmpfs needs root");
        CU_PASS("cannot mount a tmpfs here; read-only and full file systems not tested");
        return;
    }
    snprintf(output, sizeof output, "%s/out.h5", read_only);
    cli_must_fail(data, "x", "y", output, 0, "Read-only file system");
    unmount(read_only);

    if (mount_tmpfs(full, "size=1m") != 0) {
        CU_FAIL("mounting the second tmpfs failed");
        return;
    }
    snprintf(output, sizeof output, "%s/out.h5", full);
    cli_must_fail(data, "x", "y", output, 0, "No space left on device");
    unmount(full);
}

/* ---- SIGKILL while writing -------------------------------------------------------- */

/* Read a whole file into a malloc'ed buffer; returns NULL when it is missing. */
static char *read_bytes(const char *path, long *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc(length > 0 ? (size_t)length : 1);
    if (bytes != NULL && fread(bytes, 1, (size_t)length, f) != (size_t)length) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *size = length;
    return bytes;
}

static void sleep_ms(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Start the CLI on `args`, wait until its temporary output file exists in
 * `directory` and a little longer, and SIGKILL it. Returns 0 when the kill
 * ended the run, -1 when the run ended before it could be killed. */
static int kill_mid_run(const char *const *args, const char *directory)
{
    pid_t pid = start_cli(args);
    for (int waited = 0; waited < 20000 && temp_files_in(directory) == 0; waited += 2) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        sleep_ms(2);
    }
    sleep_ms(150);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

/* Remove the temporary files a killed run leaves; returns how many. */
static int remove_temp_files(const char *directory)
{
    DIR *listing = opendir(directory);
    int count = 0;
    struct dirent *entry;
    while (listing != NULL && (entry = readdir(listing)) != NULL) {
        if (strstr(entry->d_name, ".tmp-") == NULL)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        count += unlink(path) == 0;
    }
    if (listing != NULL)
        closedir(listing);
    return count;
}

static void test_killed_run_leaves_no_partial_file(void)
{
    /* Two 512-wide hidden layers make about 0.6 MFLOP per row, so 30000
     * rows on one thread take about a second, far longer than the wait
     * before the kill. */
    enum { IN = 64, HIDDEN = 512, ROWS = 30000, SMALL_ROWS = 100 };
    static float weight1[HIDDEN * IN], weight2[HIDDEN * HIDDEN], weight3[CLASSES * HIDDEN];
    test_fill_random(weight1, HIDDEN * IN, 101, 0.1f);
    test_fill_random(weight2, HIDDEN * HIDDEN, 102, 0.05f);
    test_fill_random(weight3, CLASSES * HIDDEN, 103, 0.05f);
    test_layer layers[3] = {
        {IN, HIDDEN, weight1, NULL, NNB_OP_RELU},
        {HIDDEN, HIDDEN, weight2, NULL, NNB_OP_RELU},
        {HIDDEN, CLASSES, weight3, NULL, NNB_OP_COUNT},
    };
    test_mlp mlp = {IN, layers, 3, 1};
    char slow_model[600], data[600], directory[600], output[700];
    snprintf(slow_model, sizeof slow_model, "%s", test_temp_path("slow-model.h5"));
    snprintf(data, sizeof data, "%s", test_temp_path("slow-data.h5"));
    snprintf(directory, sizeof directory, "%s", test_temp_path("killed"));
    snprintf(output, sizeof output, "%s/out.h5", directory);
    CU_ASSERT_EQUAL_FATAL(test_mlp_write(&mlp, slow_model), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(directory, 0755), 0);

    float *features = malloc((size_t)ROWS * IN * sizeof(float));
    int32_t *labels = malloc((size_t)ROWS * sizeof(int32_t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(features);
    CU_ASSERT_PTR_NOT_NULL_FATAL(labels);
    test_fill_random(features, (int64_t)ROWS * IN, 104, 1.0f);
    for (int i = 0; i < ROWS; i++)
        labels[i] = i % CLASSES;
    int written = write_matrix(data, 1, "x", H5T_IEEE_F32LE, ROWS, IN, &CONTIGUOUS,
                               H5T_NATIVE_FLOAT, features);
    written |= write_vector(data, "y", H5T_STD_I32LE, ROWS, &CONTIGUOUS, H5T_NATIVE_INT32,
                            labels);
    written |= write_matrix(data, 0, "small", H5T_IEEE_F32LE, SMALL_ROWS, IN, &CONTIGUOUS,
                            H5T_NATIVE_FLOAT, features);
    free(features);
    free(labels);
    CU_ASSERT_EQUAL_FATAL(written, 0);

    /* Without a previous output, a killed run leaves nothing at the path. */
    const char *args[] = {"score", slow_model, data, "--input", "x", "--labels", "y",
                          "--output", output, "--threads", "1", NULL};
    CU_ASSERT_EQUAL(kill_mid_run(args, directory), 0);
    CU_ASSERT_FALSE(test_file_exists(output));
    remove_temp_files(directory);

    /* With a complete output from an earlier run, a killed run leaves it
     * byte for byte. */
    const char *small_args[] = {"score", slow_model, data, "--input", "small", "--output",
                                output, NULL};
    CU_ASSERT_EQUAL_FATAL(run_cli(small_args), 0);
    long size_before = 0, size_after = 0;
    char *before = read_bytes(output, &size_before);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_EQUAL(kill_mid_run(args, directory), 0);
    char *after = read_bytes(output, &size_after);
    CU_ASSERT_PTR_NOT_NULL(after);
    CU_ASSERT_EQUAL(size_after, size_before);
    if (after != NULL && size_after == size_before)
        CU_ASSERT_EQUAL(memcmp(after, before, (size_t)size_before), 0);
    int64_t rows = 0, cols = 0;
    float *logits = test_read_matrix(output, "logits", &rows, &cols);
    CU_ASSERT_PTR_NOT_NULL(logits);
    CU_ASSERT_EQUAL(rows, SMALL_ROWS);
    free(logits);
    free(after);
    free(before);
    remove_temp_files(directory);
}

int nnb_test_register_hdf5_inputs(void)
{
    CU_pSuite suite = CU_add_suite("hdf5_inputs", inputs_setup, inputs_cleanup);
    if (suite == NULL)
        return -1;
    int failed = 0;
    failed |= CU_add_test(suite, "stored types match float32", test_stored_types_match_float32)
              == NULL;
    failed |= CU_add_test(suite, "layouts match float32", test_layouts_match_float32) == NULL;
    failed |= CU_add_test(suite, "chunk size mismatch fails", test_chunk_size_mismatch_fails)
              == NULL;
    failed |= CU_add_test(suite, "unwritten chunks read as zero",
                          test_unwritten_chunks_read_as_zero)
              == NULL;
    failed |= CU_add_test(suite, "chunks decoded once", test_chunks_decoded_once) == NULL;
    failed |= CU_add_test(suite, "built-in filters match float32",
                          test_builtin_filters_match_float32)
              == NULL;
    failed |= CU_add_test(suite, "plugin filters match float32",
                          test_plugin_filters_match_float32)
              == NULL;
    failed |= CU_add_test(suite, "label forms same loss", test_label_forms_same_loss) == NULL;
    failed |= CU_add_test(suite, "one-hot rejects bad rows", test_one_hot_rejects_bad_rows)
              == NULL;
    failed |= CU_add_test(suite, "missing filter fails", test_missing_filter_fails) == NULL;
    failed |= CU_add_test(suite, "bad shapes fail", test_bad_shapes_fail) == NULL;
    failed |= CU_add_test(suite, "damaged files fail", test_damaged_files_fail) == NULL;
    failed |= CU_add_test(suite, "inputs opened read-only", test_inputs_opened_read_only)
              == NULL;
    failed |= CU_add_test(suite, "locked file fails", test_locked_file_fails) == NULL;
    failed |= CU_add_test(suite, "output same as input fails", test_output_same_as_input_fails)
              == NULL;
    failed |= CU_add_test(suite, "output directory fails", test_output_directory_fails) == NULL;
    failed |= CU_add_test(suite, "output file size limit fails",
                          test_output_file_size_limit_fails)
              == NULL;
    failed |= CU_add_test(suite, "output file system errors", test_output_file_system_errors)
              == NULL;
    failed |= CU_add_test(suite, "killed run leaves no partial file",
                          test_killed_run_leaves_no_partial_file)
              == NULL;
    return failed ? -1 : 0;
}
