#!/usr/bin/env perl
# Short-lived certificates from Pebble (certificateValidityPeriod 60 s):
# one name is renewed by the module alone, before it expires, and the new
# certificate is served by every worker with no reload (the serial changes
# on every connection, the workers keep their pids, error.log records no
# reload); another name whose renewal is blocked (a CAA record naming
# another CA, found by "check now") keeps serving its certificate while it
# is valid and, from not_after on, never again: the fallback certificate is
# served instead.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test qw(until_true);
use Helpdesk::Pebble;
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

my $LIFE = 60;
my $t = Helpdesk::Test->new;
my $p80 = Helpdesk::Test::free_port();
my $ca = Helpdesk::Pebble->new(http_port => $p80, validity => $LIFE,
                               env => { PEBBLE_WFE_NONCEREJECT => 0 });
$t->start_stack;
my $d = $t->dir;
my $tls = Helpdesk::Test::free_port();
my $zone = 'custom.provider.test';


my ($pki, $ca_file) = $ca->node_pki($d);
my $directory = $ca->directory_url;
my $dns = $ca->dns_port;

$t->start_nginx(http => $ca->nginx_http(dir => $d, pki => $pki, ca_file => $ca_file, p80 => $p80, tls => $tls,
                                     zone => $zone));

my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
(my $hex = $acme->{id}) =~ s/-//g;
my $target = "t-$hex.$zone";
my @workers = $t->worker_pids;
is scalar(@workers), 2, 'two workers';

sub get { $ua->get($t->url("/v1/domains/$_[0]") => $h)->res->json // {} }
sub status { get($_[0])->{status} // '' }

# the serial and the worker of one TLS connection (a request the access
# log records with the worker's pid)
my $probe = 0;
sub served {
    my ($host) = @_;
    $probe++;
    my $out = `curl -s -k --max-time 5 --resolve $host:$tls:127.0.0.1 -o /dev/null -w '%{certs}' 'https://$host:$tls/?probe=$probe' 2>&1`;
    my ($serial) = $out =~ /Serial Number:\s*([0-9a-fA-F:]+)/;
    my ($subject) = $out =~ /Subject:\s*(.*)/;
    $serial = lc($serial // '');
    $serial =~ s/://g;
    return ($serial, $subject // '', $probe);
}
sub probe_pid {
    my ($n) = @_;
    my ($line) = grep { $_->[3] =~ /[?&]probe=$n / } @{ $t->access_log };
    return $line ? $line->[0] : 0;
}
sub epoch_of { my ($ts) = @_; $t->psql("SELECT extract(epoch FROM timestamptz '$ts')") }

my ($renew, $expire) = ('help.renew-shop.test', 'help.expire-shop.test');
for my $host ($renew, $expire) {
    $ca->set_cname($host, $target);
    is $ua->post($t->url('/v1/domains') => $h => json => { hostname => $host })->res->code, 201, "$host added";
}
ok until_true(sub { status($renew) eq 'active' && status($expire) eq 'active' }, 30), 'both issued'
    or diag explain(get($renew), get($expire));

my $cert = sub {
    my ($host, $gen) = @_;
    my $w = $gen ? "AND generation = $gen" : 'AND replaced_at IS NULL';
    my ($nb, $na, $ra, $g) = split /\|/, $t->psql(
        "SELECT extract(epoch FROM not_before), extract(epoch FROM not_after),
                extract(epoch FROM renew_after), generation
         FROM helpdesk.tls_certificates WHERE hostname = '$host' $w");
    return { not_before => $nb, not_after => $na, renew_after => $ra, generation => $g };
};
my $first = $cert->($renew);
my $life = $first->{not_after} - $first->{not_before};
ok $life > $LIFE - 5 && $life <= $LIFE + 1, sprintf('Pebble issued a %.0f s certificate', $life);
my ($serial1) = served($renew);
ok until_true(sub { ($serial1) = served($renew); $serial1 && (served($renew))[1] =~ /\Q$renew\E/ }, 10),
   "served ($serial1)";

# --- 6. the other name's renewal blocked: CAA names another CA, checked now --------------------
# (on the parent: the name itself is a CNAME, its CAA is the target's)
$ca->add_caa('expire-shop.test', issue => 'otherca.example');
is $ua->post($t->url("/v1/domains/$expire/check") => $h)->res->code, 202, "$expire: check now";
ok until_true(sub { status($expire) eq 'dns_broken' }, 10), 'CAA forbids now: dns_broken'
    or diag explain get($expire);
like get($expire)->{reason}, qr/^caa-forbids: expire-shop\.test allows otherca\.example/, 'with the reason';
ok get($expire)->{serving}, 'still serving (the certificate is valid)';
my $exp = $cert->($expire);

# --- 3. renewal, then expiry, watched together --------------------------------------------------
my ($renewed_at, $last_old, $first_fallback, $seen_new);
my %new_by;
my $until = $exp->{not_after} + 15;
while (time < $until) {
    unless ($renewed_at) {
        my ($s) = served($renew);
        $renewed_at = time if $s && $s ne $serial1;
    }
    my ($s, $subj) = served($expire);
    if ($subj =~ /\Q$expire\E/) {
        $last_old = time;
    } elsif ($subj =~ /fallback\.test/ && !$first_fallback) {
        $first_fallback = time;
    }
    last if $renewed_at && $first_fallback;
    sleep 0.25;
}

ok $renewed_at, 'the certificate was renewed' or diag explain $t->psql("SELECT * FROM helpdesk.acme_orders");
my $second = $cert->($renew, $first->{generation} + 1);
ok $second->{generation} > $first->{generation}, "stored as generation $second->{generation}";
my $at = ($second->{not_before} - $first->{not_before}) / $life;
ok $at >= 0.45 && $at <= 0.70, sprintf('ordered at %.0f%% of the old certificate\'s life (renew_after at %.0f%%)',
                                       100 * $at, 100 * ($first->{renew_after} - $first->{not_before}) / $life);
ok $renewed_at < $first->{not_after}, sprintf('served %.1f s before the old one expired',
                                              $first->{not_after} - ($renewed_at // 0));

# every connection now gets the new certificate, from both workers
my (%pids, %serials);
for (1 .. 24) {
    my ($s, undef, $n) = served($renew);
    $serials{$s}++;
    $pids{$_}++ for grep { $_ } probe_pid($n);
}
until_true(sub { my @p = map { probe_pid($_) } ($probe - 23) .. $probe; !grep { !$_ } @p }, 5);
%pids = ();
$pids{probe_pid($_)}++ for ($probe - 23) .. $probe;
is_deeply [keys %serials], [(served($renew))[0]], '24 connections: all see the new serial' or diag explain \%serials;
isnt((served($renew))[0], $serial1, 'which is not the old one');
is scalar(grep { $_ } keys %pids), 2, 'answered by both workers' or diag explain \%pids;
is_deeply [$t->worker_pids], \@workers, 'the same worker processes (no reload, no restart)';
my @reload = grep { /signal 1 \(SIGHUP\)|reconfiguring|gracefully shutting down/ } split /\n/, $t->error_log;
ok !@reload, 'no reload in error.log' or diag "@reload";

# the blocked name: valid until not_after, never after
ok $last_old, sprintf('the blocked name was served with its certificate until %.1f s before not_after',
                      $exp->{not_after} - ($last_old // 0));
ok $last_old && $last_old > $exp->{not_after} - 3, 'that is, to its last seconds';
ok !$last_old || $last_old <= $exp->{not_after}, 'never after not_after';
ok $first_fallback, sprintf('the fallback from %.1f s after not_after', ($first_fallback // 0) - $exp->{not_after});
is $t->psql("SELECT count(*) FROM helpdesk.tls_certificates WHERE hostname = '$expire'"), 1,
   'no renewal for it (one certificate)';
is $t->psql("SELECT count(*) FROM helpdesk.acme_orders WHERE hostname = '$expire' AND kind = 'renew'"), 0,
   'and no renewal order';
my ($s, $subj) = served($expire);
like $subj, qr/fallback\.test/, 'still the fallback a moment later';

$t->done;
