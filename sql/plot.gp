# plot.gp -- draws docs/faithful.png from the data sql/plot.sql computes
# (run by sql/plot.sh):
#   gnuplot -e "datafile='DATA.gp'; outfile='docs/faithful.png'" sql/plot.gp
# DATA.gp defines K (components), N (rows), subtitle, label[1..K] and the
# data blocks $points (eruptions, waiting, cluster), $means and $ellipses
# (index 2c: distance 1 of component c, index 2c + 1: distance 2).

if (!exists("datafile")) datafile = 'faithful-data.gp'
if (!exists("outfile")) outfile = 'docs/faithful.png'
load datafile

# pngcairo when gnuplot has it (Debian's gnuplot-nox does), else libgd's png.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1200,820 noenhanced font "DejaVu Sans,13" linewidth 1.5
} else {
  set terminal png size 1200,820 noenhanced font "DejaVu Sans,12"
}
set output outfile
set encoding utf8

# Okabe-Ito colours (distinct for colour-blind readers too); a lighter
# shade for the points, the full one for the ellipses.
array point_colour[6] = ["#5B9BD5", "#EE8A4F", "#4DB892", "#DA94C0", "#F2BE4A", "#8FCDEB"]
array line_colour[6]  = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
array point_type[6]   = [7, 5, 9, 11, 13, 15]

set tmargin 5
set title sprintf("Old Faithful: %d eruptions clustered by a Gaussian mixture", N) font ",16" offset 0,1.2
set label 1 subtitle at graph 0.5, graph 1.045 center font ",11" textcolor rgb "#404040"
set xlabel "eruption duration (min)"
set ylabel "waiting time to the next eruption (min)"
set xrange [1.2:5.8]
set yrange [38:102]
set xtics 0.5 format "%.1f"
set ytics 10
set mxtics 5
set mytics 2
set style line 100 lc rgb "#E0E0E0" lw 1 dt solid
set grid xtics ytics ls 100, ls 100
set border 3 lc rgb "#505050"
set tics nomirror out
set key bottom right Left reverse box lc rgb "#B0B0B0" opaque samplen 2.5 spacing 1.3 width 1.5

plot \
  for [c = 0:K-1] $points using 1:($3 == c ? $2 : 1/0) \
      with points pt point_type[c+1] ps 1.1 lc rgb point_colour[c+1] title label[c+1], \
  for [c = 0:K-1] $ellipses index 2*c using 1:2 \
      with lines lw 2.2 dt solid lc rgb line_colour[c+1] notitle, \
  for [c = 0:K-1] $ellipses index 2*c+1 using 1:2 \
      with lines lw 2.2 dt (8,5) lc rgb line_colour[c+1] notitle, \
  $means using 2:3 with points pt 2 ps 2.6 lw 3 lc rgb "black" title "component means", \
  NaN with lines lw 2.2 dt solid lc rgb "#404040" title "1σ ellipse (39 % of its component)", \
  NaN with lines lw 2.2 dt (8,5) lc rgb "#404040" title "2σ ellipse (86 % of its component)"
