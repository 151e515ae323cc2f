# Throughput plot of the nnbatch benchmark, called by bench/report.py:
#   gnuplot -e "threads_file='...'; tiles_file='...'; auto_file='...';
#               threads_blocks=N; tiles_blocks=N; auto_blocks=N;
#               tile_min=N; tile_max=N; output='PNG'; heading='TEXT'"
#           bench/throughput.gp
# Each data file holds blocks separated by two blank lines; the first line
# of a block is its legend title (quoted), then "x rows/s" pairs.

set terminal pngcairo size 1400,560 font "sans,11"
set output output
set datafile commentschars "#"
set multiplot layout 1,2 title heading

set title "Rows/s vs threads"
set xlabel "threads"
set ylabel "rows/s"
set xtics 1
set key top left
set grid
set offsets 0.25, 0.25, 0, 0
set yrange [0:*]
plot for [i=0:threads_blocks-1] threads_file index i using 1:2 \
    with linespoints linewidth 2 pointsize 1.3 title columnheader(1)

set title "Rows/s vs tile rows (filled squares: automatic tile choice)"
set xlabel "tile rows"
set logscale x 2
set xtics (64, 128, 256, 512, 1024, 2048, 4096, 8192)
set offsets 0, 0, 0, 0
set xrange [tile_min / 1.5 : tile_max * 1.5]
set key bottom center
plot for [i=0:tiles_blocks-1] tiles_file index i using 1:2 \
         with linespoints linewidth 2 linecolor i+1 title columnheader(1), \
     for [i=0:auto_blocks-1] auto_file index i using 1:2 \
         with points pointtype 5 pointsize 2 linecolor i+1 notitle

unset multiplot
