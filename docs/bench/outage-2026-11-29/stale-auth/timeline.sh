cd $1 && t0=$(ls m.* | head -1 | cut -c3-); for f in $(ls m.*); do t=$(echo $f | cut -c3-); awk -v t=$t -v t0=$t0 '
/^peakwallet_admission_breaker\{state="open"\}/{o=$2} /^peakwallet_admission_breaker\{state="half_open"\}/{h=$2}
/^peakwallet_admission_in_flight /{inf=$2}
/^peakwallet_admission_refusals_total\{class="payment",reason="breaker"\}/{rb=$2}
/^peakwallet_admission_admitted_total\{class="payment"\}/{ad=$2}
/^peakwallet_ledger_idempotency_releases_pending /{rp=$2}
/^peakwallet_http_requests_total/{ if ($0 ~ /code="503"/) r503+=$2; else if ($0 ~ /code="201"/) r201+=$2; else oth+=$2}
/^pgxpool_|^peakwallet_postgres_pool/{pool=pool" "$1"="$2}
END{printf "%6.1f open=%s half=%s inflight=%s admitted=%s brk=%s relpend=%s 503=%s 201=%s oth=%s %s\n", t-t0, o,h,inf,ad,rb,rp,r503,r201,oth,pool}' $f; done
