package Helpdesk::Pebble;

# Pebble (a test ACME server) and pebble-challtestsrv (its mock DNS) on
# loopback, for the ACME tests.  challtestsrv answers every A query with
# 127.0.0.1 unless told otherwise, so Pebble validates HTTP-01 against
# 127.0.0.1:<http_port>: the test nginx's plain-HTTP port.
#
#   my $ca = Helpdesk::Pebble->new(http_port => $port,      # skip_all without pebble
#                                  validity => 60,          # certificateValidityPeriod, s
#                                  env => { PEBBLE_WFE_NONCEREJECT => 50 });
#   $ca->directory_url;  $ca->ca_file;  $ca->dns_port;
#   $ca->set_cname('shop.example.com', 't-1.custom.example.net');
#   $ca->set_txt($name, $value); $ca->add_a($name, '127.0.0.2'); $ca->add_caa($name, issue => 'ca.example');
#   $ca->set_servfail($name); $ca->clear_*($name);
#   $ca->root_pem;  $ca->restart;  $ca->count(qr{/order-plz});  $ca->cert_status($serial_hex);
#
# The listener's CA and certificate (127.0.0.1 and localhost) are made
# here with openssl; ca_file is what clients pass as their CA bundle.
# Pebble's own issuing root changes at every start: root_pem fetches it
# from the management interface (again after a restart).

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $PEBBLE = '/usr/bin/pebble';
my $CHALL  = '/usr/bin/pebble-challtestsrv';

sub available { -x $PEBBLE && -x $CHALL }

sub new {
    my ($class, %opt) = @_;

    unless (available()) {
        require Test::More;
        Test::More::plan(skip_all => 'pebble and pebble-challtestsrv are not installed');
    }

    my $dir = tempdir('pebble-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless {
        dir => $dir, owner => $$, env => $opt{env} // {},
        http_port => $opt{http_port} // _free_port(),
        tls_port  => $opt{tls_port} // _free_port(),
        listen => _free_port(), mgmt => _free_port(),
        dns => _free_port('udp'), chall => _free_port(),
        validity => $opt{validity},
    }, $class;

    $self->_listener_cert;
    $self->_write_config;
    $self->_start_chall;
    $self->_start_pebble;

    return $self;
}

sub dir           { $_[0]{dir} }
sub directory_url { "https://127.0.0.1:$_[0]{listen}/dir" }
sub management_url { "https://127.0.0.1:$_[0]{mgmt}" }
sub ca_file       { "$_[0]{dir}/ca.pem" }
sub dns_port      { $_[0]{dns} }
sub http_port     { $_[0]{http_port} }
sub tls_port      { $_[0]{tls_port} }
sub pebble_pid    { $_[0]{pebble_pid} }
sub chall_pid     { $_[0]{chall_pid} }
sub config_file   { "$_[0]{dir}/pebble.json" }

# A port free on 127.0.0.1 for TCP (and UDP too, for the DNS server).
# A test nginx's side of ACME against this Pebble: under $dir/pki the
# catch-all's own certificate (the provider's fallback, CN fallback.test)
# and a copy of Pebble's listener CA nginx can read; returns the pki
# directory and the CA file.
sub node_pki {
    my ($self, $dir) = @_;
    my $pki = "$dir/pki";
    mkdir $pki;
    _run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
         . "-subj /CN=fallback.test -keyout $pki/fallback.key -out $pki/fallback.crt");
    chmod 0755, $pki;
    chmod 0644, glob("$pki/*");
    my $ca_file = "$pki/pebble-listener.pem";
    _run("cp " . $self->ca_file . " $ca_file && chmod 0644 $ca_file");
    return ($pki, $ca_file);
}

# The http block's directives for it: the store (dir), the ACME client on
# this directory, port 80 (challenge and redirects) and the TLS catch-all
# with the certificate callback; with zone (and edge, default 127.0.0.1)
# the DNS check against challtestsrv too.
#   $ca->nginx_http(dir => $d, pki => $pki, ca_file => $f, p80 => $p80, tls => $tls,
#                   [store => 'tlsstore'], [zone => 'custom.provider.test', edge => '127.0.0.1'])
sub nginx_http {
    my ($self, %o) = @_;
    my $store = $o{store} // 'tlsstore';
    my $checks = !defined $o{zone} ? '' : "
    helpdesk_custom_domains cname_zone=$o{zone} edge=" . ($o{edge} // '127.0.0.1')
        . " resolver=127.0.0.1:$self->{dns}
                            resolver_timeout=1s interval=300ms;";
    my $directory = $self->directory_url;
    return "helpdesk_base_domain portal.test;$checks
    helpdesk_tls_store zone=helpdesk_tls:1m dir=$o{dir}/$store sync=300ms cache=100;
    helpdesk_acme directory=$directory contact=ops\@provider.test ca_bundle=$o{ca_file}
                  interval=300ms concurrency=4;
    server {
        listen 127.0.0.1:$o{p80};
        location / { helpdesk_acme_challenge; }
    }
    server {
        listen 127.0.0.1:$o{tls} ssl reuseport;
        ssl_certificate $o{pki}/fallback.crt;
        ssl_certificate_key $o{pki}/fallback.key;
        ssl_session_cache off;
        ssl_session_tickets off;
        helpdesk_tls_certificates;
        location / { helpdesk_portal; }
    }";
}

sub _free_port {
    my ($udp) = @_;
    for (1 .. 50) {
        my $t = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
            or die "tcp socket: $!";
        my $port = $t->sockport;
        if ($udp) {
            my $u = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                          Proto => 'udp') or next;
            close $u;
        }
        close $t;
        return $port;
    }
    die "no free port";
}

sub _run {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    die "$cmd: $out" if $?;
    return $out;
}

sub _listener_cert {
    my ($self) = @_;
    my $d = $self->{dir};
    _run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
         . "-keyout $d/ca.key -out $d/ca.pem -days 30 -subj '/CN=Pebble listener test CA' "
         . "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
    _run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
         . "-keyout $d/key.pem -out $d/listener.csr -subj /CN=localhost");
    open my $fh, '>', "$d/ext.cnf" or die $!;
    print $fh "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        . "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";
    close $fh;
    _run("openssl x509 -req -in $d/listener.csr -CA $d/ca.pem -CAkey $d/ca.key "
         . "-CAcreateserial -days 30 -extfile $d/ext.cnf -out $d/cert.pem");
}

sub _write_config {
    my ($self) = @_;
    my $conf = {
        listenAddress => "127.0.0.1:$self->{listen}",
        managementListenAddress => "127.0.0.1:$self->{mgmt}",
        certificate => "$self->{dir}/cert.pem",
        privateKey => "$self->{dir}/key.pem",
        httpPort => $self->{http_port} + 0,
        tlsPort => $self->{tls_port} + 0,
        ocspResponderURL => '',
        externalAccountBindingRequired => JSON::PP::false,
    };
    $conf->{certificateValidityPeriod} = $self->{validity} + 0 if $self->{validity};
    open my $fh, '>', $self->config_file or die $!;
    print $fh JSON::PP->new->canonical->pretty->encode({ pebble => $conf });
    close $fh;
}

sub _spawn {
    my ($self, $log, $env, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or die $!;
        open STDERR, '>&', \*STDOUT;
        $ENV{$_} = $env->{$_} for keys %$env;
        exec @cmd or die "exec $cmd[0]: $!";
    }
    return $pid;
}

sub _listening {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

sub _wait_listen {
    my ($self, $pid, $what, @ports) = @_;
    my $deadline = time + 20;
    while (time < $deadline) {
        return if !grep { !_listening($_) } @ports;
        if (waitpid($pid, WNOHANG) == $pid) {
            die "$what exited: " . $self->_tail("$self->{dir}/$what.log");
        }
        sleep 0.05;
    }
    die "$what is not listening on @ports: " . $self->_tail("$self->{dir}/$what.log");
}

sub _tail {
    my ($self, $file) = @_;
    open my $fh, '<', $file or return '';
    my @l = <$fh>;
    return join '', @l[ ($#l > 20 ? $#l - 20 : 0) .. $#l ];
}

sub _start_chall {
    my ($self) = @_;
    $self->{chall_pid} = $self->_spawn("$self->{dir}/challtestsrv.log", {}, $CHALL,
        -dns01 => "127.0.0.1:$self->{dns}", -http01 => '', -https01 => '',
        -tlsalpn01 => '', -management => "127.0.0.1:$self->{chall}",
        -defaultIPv4 => '127.0.0.1', -defaultIPv6 => '');
    $self->_wait_listen($self->{chall_pid}, 'challtestsrv', $self->{chall}, $self->{dns});
}

sub _start_pebble {
    my ($self) = @_;
    my %env = (PEBBLE_VA_NOSLEEP => 1, %{ $self->{env} });
    delete $env{$_} for grep { !defined $env{$_} } keys %env;
    $self->{pebble_pid} = $self->_spawn("$self->{dir}/pebble.log", \%env, $PEBBLE,
        -config => $self->config_file, -dnsserver => "127.0.0.1:$self->{dns}",
        -strict => 'false');
    $self->_wait_listen($self->{pebble_pid}, 'pebble', $self->{listen}, $self->{mgmt});
    delete $self->{root_pem};
}

sub _kill {
    my ($pid) = @_;
    return unless $pid;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid || !kill(0, $pid);
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# Pebble stopped and started again on the same ports and config (its state,
# accounts, orders and root are lost, as a real CA's outage would not);
# env overrides may change: restart(env => { PEBBLE_VA_SLEEPTIME => undef }).
sub restart {
    my ($self, %opt) = @_;
    _kill(delete $self->{pebble_pid});
    $self->{env} = { %{ $self->{env} }, %{ $opt{env} } } if $opt{env};
    $self->_start_pebble;
}

sub stop {
    my ($self) = @_;
    return if $self->{owner} != $$;
    _kill(delete $self->{pebble_pid});
    _kill(delete $self->{chall_pid});
}

sub DESTROY { $_[0]->stop }

# challtestsrv's management interface (plain HTTP, JSON bodies)
sub _chall {
    my ($self, $path, $body) = @_;
    my $json = encode_json($body);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{chall},
                                  Proto => 'tcp', Timeout => 5) or die "challtestsrv: $!";
    print $s "POST $path HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($json) . "\r\n\r\n$json";
    local $/;
    my $res = <$s> // '';
    die "challtestsrv $path: $res" unless $res =~ m{^HTTP/1\.\d 200};
    return 1;
}

sub _fqdn { my $h = lc $_[0]; $h =~ s/\.?$/./; $h }

sub set_cname    { $_[0]->_chall('/set-cname', { host => _fqdn($_[1]), target => _fqdn($_[2]) }) }
sub clear_cname  { $_[0]->_chall('/clear-cname', { host => _fqdn($_[1]) }) }
sub set_txt      { $_[0]->_chall('/set-txt', { host => _fqdn($_[1]), value => $_[2] }) }
sub clear_txt    { $_[0]->_chall('/clear-txt', { host => _fqdn($_[1]) }) }
sub add_a        { my ($s, $h, @a) = @_; $s->_chall('/add-a', { host => _fqdn($h), addresses => \@a }) }
sub clear_a      { $_[0]->_chall('/clear-a', { host => _fqdn($_[1]) }) }
sub add_aaaa     { my ($s, $h, @a) = @_; $s->_chall('/add-aaaa', { host => _fqdn($h), addresses => \@a }) }
sub clear_aaaa   { $_[0]->_chall('/clear-aaaa', { host => _fqdn($_[1]) }) }
sub set_servfail { $_[0]->_chall('/set-servfail', { host => _fqdn($_[1]) }) }
sub clear_servfail { $_[0]->_chall('/clear-servfail', { host => _fqdn($_[1]) }) }
sub set_default_ipv4 { $_[0]->_chall('/set-default-ipv4', { ip => $_[1] }) }

# add_caa($host, issue => 'ca.example', iodef => 'mailto:x@example.com', ...)
sub add_caa {
    my ($self, $host, @pairs) = @_;
    my @pol;
    while (my ($tag, $value) = splice @pairs, 0, 2) {
        push @pol, { tag => $tag, value => $value };
    }
    $self->_chall('/add-caa', { host => _fqdn($host), policies => \@pol });
}
sub clear_caa { $_[0]->_chall('/clear-caa', { host => _fqdn($_[1]) }) }

# GET on Pebble's management interface: (status, body)
sub _mgmt_get {
    my ($self, $path) = @_;
    my $ca = $self->ca_file;
    my $url = $self->management_url . $path;
    my $out = `curl -s --max-time 10 --cacert '$ca' -w '\\n%{http_code}' '$url' 2>&1`;
    my ($body, $code) = $out =~ /\A(.*)\n(\d{3})\z/s or return (0, $out);
    return ($code, $body);
}

sub root_pem {
    my ($self) = @_;
    return $self->{root_pem} if $self->{root_pem};
    my ($code, $body) = $self->_mgmt_get('/roots/0');
    die "roots/0: $code $body" unless $code == 200 && $body =~ /BEGIN CERTIFICATE/;
    return $self->{root_pem} = $body;
}

# The root written to a file (for curl --cacert / openssl -CAfile); again
# after a restart.
sub root_file {
    my ($self) = @_;
    my $file = "$self->{dir}/root.pem";
    open my $fh, '>', $file or die $!;
    print $fh $self->root_pem;
    close $fh;
    return $file;
}

# The certificate's status by its serial in hex ({Status => 'Valid'|'Revoked',
# Certificate => PEM, ...}), undef when Pebble does not know it.
sub cert_status {
    my ($self, $serial) = @_;
    $serial = lc $serial;
    $serial =~ s/^0x//;
    my ($code, $body) = $self->_mgmt_get("/cert-status-by-serial/$serial");
    return undef unless $code == 200;
    return eval { decode_json($body) };
}

# Pebble's log so far (every start appends to it)
sub log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/pebble.log" or return '';
    local $/;
    return <$fh> // '';
}

# How many lines of Pebble's log match $re
sub count {
    my ($self, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, $self->log;
}

1;
