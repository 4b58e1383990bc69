# libpq keeps a connection's buffers as large as the largest statement or
# answer it carried: the pool closes a connection that carried more than
# a few megabytes once it is answered, so that a 20 MB upload does not
# stay in the worker's memory for its lifetime (src/event/ngx_helpdesk_pg_conn.c).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;
use Helpdesk::Portal;
use Time::HiRes qw(sleep);

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location / { helpdesk_portal; helpdesk_upload_max_size 30m; }');
my $acme = $t->create_tenant('acme');
my $p = Helpdesk::Portal->new($t, 'acme.portal.test');
is $p->signup('rita@example.com', 'senha-da-rita-1', 'Rita')->code, 200, 'a customer';

sub rss_kb {
    my $kb = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

# warm: the pool's connections open, the worker's code paths run once
is $p->upload('small.pdf', 'application/pdf', '%PDF-1.4 ' . ('s' x 1000))->code, 201, 'a small upload';
sleep 0.5;
my $before = rss_kb();

my $big = '%PDF-1.4 ' . join('', map { chr(65 + $_ % 26) } 1 .. 1000) x (20 * 1024);
my $res = $p->upload('big.pdf', 'application/pdf', $big);
is $res->code, 201, 'a 20 MB upload is stored' or diag $res->body;
is $p->upload('after.pdf', 'application/pdf', '%PDF-1.4 after')->code, 201, '... and the next upload works';
sleep 0.5;
my $after = rss_kb();
my $grew = ($after - $before) / 1024;
cmp_ok $grew, '<', 8, sprintf("the workers' memory is given back (%.1f MB more than before the upload)", $grew);
is $t->psql(q{SELECT count(*) FROM helpdesk.uploads WHERE filename = 'big.pdf' AND size > 20000000}), 1,
   '... and the upload is whole in the database';

$t->done;
