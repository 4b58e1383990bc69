# Bad directive values fail `nginx -t` with a message that names the
# directive, the value, and the file and line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Helpdesk::Test;

my $t = Helpdesk::Test->new;
my $d = $t->dir;

$t->write_conf;
my ($rc, $out) = $t->nginx_test;
is $rc, 0, 'the test configuration is valid' or diag $out;

sub bad {
    my ($name, $like, %conf) = @_;
    my $conf = $t->conf(%conf);
    $conf = $conf{edit}->($conf) if $conf{edit};
    $t->write_conf(text => $conf);
    my ($rc, $out) = $t->nginx_test;
    isnt $rc, 0, "$name: nginx -t fails";
    like $out, $like, "$name: says why";
    like $out, qr/in \Q$d\E\/nginx\.conf:\d+/, "$name: names file and line";
}

bad('pool size', qr/invalid value "max=0" in "helpdesk_postgres" directive/,
    postgres => '"host=/tmp" max=0');
bad('backlog', qr/invalid value "backlog=lots" in "helpdesk_postgres"/,
    postgres => '"host=/tmp" backlog=lots');
bad('timeout', qr/invalid value "timeout=soon" in "helpdesk_postgres"/,
    postgres => '"host=/tmp" timeout=soon');
bad('unknown option', qr/invalid value "colour=red" in "helpdesk_postgres"/,
    postgres => '"host=/tmp" colour=red');
bad('conninfo', qr/invalid conninfo "nonsense=1" in "helpdesk_postgres" directive: .*nonsense/,
    postgres => '"nonsense=1"');
bad('postgres host name', qr/invalid conninfo "host=db.example dbname=x" in "helpdesk_postgres" directive: a host name would be resolved by a blocking call/,
    postgres => '"host=db.example dbname=x"');
bad('postgres names among hosts', qr/in "helpdesk_postgres" directive: a host name would be resolved/,
    postgres => '"host=10.0.0.1,db2.example dbname=x"');
bad('postgres service', qr/in "helpdesk_postgres" directive: "service" is not supported/,
    postgres => '"service=main"');
for my $ok ('host=/var/run/postgresql', 'host=127.0.0.1 port=5433', 'host=::1',
            'host=10.0.0.1,10.0.0.2', 'host=db.example hostaddr=10.0.0.1') {
    $t->write_conf(postgres => qq{"$ok dbname=helpdesk"});
    my ($rc, $out) = $t->nginx_test;
    is $rc, 0, "postgres \"$ok\" is accepted" or diag $out;
}
bad('redis name', qr/invalid address "redis.example:6379" in "helpdesk_redis" directive: needs an IP address/,
    edit => sub { $_[0] =~ s/helpdesk_redis \S+/helpdesk_redis redis.example:6379/r });
bad('redis port', qr/invalid address "127.0.0.1:99999" in "helpdesk_redis".*port/,
    edit => sub { $_[0] =~ s/helpdesk_redis \S+/helpdesk_redis 127.0.0.1:99999/r });
bad('redis timeout', qr/invalid value "timeout=0" in "helpdesk_redis"/,
    edit => sub { $_[0] =~ s/timeout=1s;/timeout=0;/r });
bad('key file', qr/cannot open ".*missing.key" in "helpdesk_provider_key_file"/,
    edit => sub { $_[0] =~ s/provider\.key/missing.key/r });
bad('no key file for secrets', qr/"helpdesk_secret_key_file" is required with "helpdesk_postgres"/,
    secret_key_file => '');
bad('secrets key file', qr/cannot open ".*missing.keys" in "helpdesk_secret_key_file"/,
    secret_key_file => "$d/missing.keys");
bad('api in a regex location', qr/"helpdesk_api" directive must be in a prefix location/,
    location => '} location ~ ^/x { helpdesk_api;');

open my $fh, '>', "$d/provider.key" or die;
print $fh "short\n";
close $fh;
$t->write_conf(text => $t->conf);
open $fh, '>', "$d/provider.key" or die;
print $fh "short\n";
close $fh;
($rc, $out) = $t->nginx_test;
like $out, qr/invalid key in ".*provider.key" for "helpdesk_provider_key_file"/, 'short provider key';

done_testing;
