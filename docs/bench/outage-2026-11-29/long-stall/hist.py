# Share of the POST /v1/transfers requests the server answered within each
# bound, between the /metrics read 65 s into the stall and the one 1.5 s
# before its end; the stall's start and end are read off RUN.tl (the first
# read with a 503; the first, 5 s on, with more 201s than the one before).
#   python3 hist.py base1 base2 base3 new1 new2
import sys
for run in sys.argv[1:]:
    hist = {}
    for line in open(run + '.transfers.tsv'):
        if line.startswith('#'):
            continue
        t, le, n = line.split('\t')
        hist.setdefault(float(t), {})[le] = int(n)
    st = en = p201 = None
    for r in (l.split() for l in open(run + '.tl')):
        t, v = float(r[0]), dict(x.split('=') for x in r[1:])
        if st is None and int(v['503']) > 0:
            st = t
        if st is not None and en is None and t > st + 5 and p201 is not None and int(v['201']) > p201:
            en = t
        p201 = int(v['201'])
    at = lambda x: hist[min(hist, key=lambda t: abs(t - x))]
    a, b = at(st + 65), at(en - 1.5)
    total = b['+Inf'] - a['+Inf']
    shares = ' '.join('%s s: %.2f' % (le, (b[le] - a[le]) / total) for le in ('0.01', '0.1', '1', '2.5'))
    print('%s: %d answered %.0f-%.0f s into the stall; within %s' % (run, total, 65, en - 1.5 - st, shares))
