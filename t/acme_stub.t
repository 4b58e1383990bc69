#!/usr/bin/env perl
# The ACME client against a fake CA on loopback (a small Mojolicious server
# in a child process, plain HTTP): what Pebble cannot play.  The fake speaks
# enough of RFC 8555 (directory with renewalInfo, newNonce, newAccount,
# newOrder, authorization, http-01 challenge, finalize, certificate signed
# with a CA made here by openssl) and checks every POST's protected header
# (alg ES256, a nonce it issued and never saw used, url = the request's,
# jwk for newAccount and kid after); it does not verify signatures.
# Covered: ARI (certID asked, window taken, a window in the past renews
# with "replaces" and no new-order token, a refused replacement ordered
# again without it); 429 rateLimited with Retry-After in seconds and as an
# HTTP-date (nothing posted before it, the domain's state unchanged);
# badNonce past the client's retries; problem types to the domain's state;
# 5xx as a backoff only; a 10 MB answer and garbage JSON failing cleanly;
# key rotation re-seals the account key and an order's certificate key
# (t1 removed, restarted: the held order completes, a later one is signed).
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Mojo::JSON qw(decode_json encode_json);
use MIME::Base64 qw(encode_base64url decode_base64url);
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

my $t = Helpdesk::Test->new;
$t->start_stack;
my $d = $t->dir;

sub sh { my $out = `$_[0] 2>&1`; die "$_[0]: $out" if $?; $out }

sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.25;
    }
    return $cond->();
}

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', "$file.tmp" or die "$file: $!";
    print $fh $text;
    close $fh;
    rename "$file.tmp", $file or die $!;
}

# --- the fake CA's own CA (its certificates carry an AKI: an ARI certID)
my $fd = tempdir('fakeca-XXXXXX', TMPDIR => 1, CLEANUP => 1);
sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
   . "-subj '/CN=Fake ACME Root' -keyout $fd/ca.key -out $fd/ca.crt "
   . "-addext basicConstraints=critical,CA:TRUE -addext subjectKeyIdentifier=hash");

my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
my $port = $s->sockport;
close $s;
my $base = "http://127.0.0.1:$port";
spew("$fd/control.json", encode_json({}));

# --- the fake CA ---------------------------------------------------------
my $pid = fork // die "fork: $!";
if (!$pid) {
    require Mojolicious;
    require Mojo::Server::Daemon;
    my (%nonce, %order, %used, $serial);
    $serial = 0x1000;
    my $app = Mojolicious->new;
    $app->log->level('fatal');

    my $log = sub {
        open my $fh, '>>', "$fd/log.jsonl" or die;
        print $fh encode_json($_[0]), "\n";
        close $fh;
    };
    my $fresh = sub {
        my $n = encode_base64url(join '', map { chr int rand 256 } 1 .. 16);
        $nonce{$n} = 1;
        return $n;
    };
    my $problem = sub {
        my ($c, $rec, $status, $type, $detail, %h) = @_;
        $c->res->headers->header('Replay-Nonce' => ($rec->{sent_nonce} = $fresh->()));
        $c->res->headers->header($_ => $h{$_}) for keys %h;
        $c->res->headers->content_type('application/problem+json');
        $rec->{status} = $status;
        $log->($rec);
        $c->render(data => encode_json({ type => "urn:ietf:params:acme:error:$type",
                                          detail => $detail, status => $status }),
                   status => $status);
    };
    my $reply = sub {
        my ($c, $rec, $status, $body, %h) = @_;
        $c->res->headers->header('Replay-Nonce' => ($rec->{sent_nonce} = $fresh->()));
        $c->res->headers->header($_ => $h{$_}) for keys %h;
        $c->res->headers->content_type($h{'Content-Type'} // 'application/json');
        $rec->{status} = $status;
        $log->($rec);
        $c->render(data => ref $body ? encode_json($body) : $body, status => $status);
    };
    my $order_json = sub {
        my ($host) = @_;
        my $o = $order{$host};
        my $status = $o->{cert} ? 'valid' : $o->{processing} ? 'processing' : $o->{authz} eq 'valid' ? 'ready'
                   : $o->{authz} eq 'invalid' ? 'invalid' : 'pending';
        return { status => $status,
                 identifiers => [{ type => 'dns', value => $host }],
                 authorizations => ["$base/authz/$host"],
                 finalize => "$base/finalize/$host",
                 ($o->{cert} ? (certificate => "$base/cert/$host/$o->{cert}") : ()) };
    };

    $app->routes->get('/dir' => sub {
        my $c = shift;
        $log->({ method => 'GET', path => '/dir', at => time });
        $c->render(json => { newNonce => "$base/nonce", newAccount => "$base/acct",
                             newOrder => "$base/new-order", revokeCert => "$base/revoke",
                             renewalInfo => "$base/ari",
                             meta => { caaIdentities => ['fake-ca.test'] } });
    });
    $app->routes->any([qw(HEAD GET)] => '/nonce' => sub {
        my $c = shift;
        $c->res->headers->header('Replay-Nonce' => $fresh->());
        $c->res->headers->header('Cache-Control' => 'no-store');
        $c->rendered(200);
    });
    $app->routes->get('/ari/*id' => sub {
        my $c = shift;
        my $ctl = decode_json(slurp("$fd/control.json") || '{}');
        my $a = $ctl->{ari} // {};
        $log->({ method => 'GET', path => $c->req->url->path->to_string, at => time,
                 id => $c->stash('id') });
        $c->res->headers->header('Retry-After' => $a->{retry_after}) if $a->{retry_after};
        return $c->render(data => $a->{body}, status => 200) if defined $a->{body};
        $c->render(json => { suggestedWindow => { start => $a->{start}, end => $a->{end} } });
    });
    $app->routes->post("/*rest" => sub {
        my $c = shift;
        my $path = "/" . $c->stash("rest");
        my $rec = { method => 'POST', path => $path, at => time };
        my $ctl = decode_json(slurp("$fd/control.json") || '{}');
        my ($jws, $prot, $payload);
        my @bad;
        eval {
            $jws = decode_json($c->req->body);
            $prot = decode_json(decode_base64url($jws->{protected}));
            $payload = $jws->{payload} eq '' ? '' : decode_json(decode_base64url($jws->{payload}));
            1;
        } or push @bad, 'not a flattened JWS';
        push @bad, 'content type' unless ($c->req->headers->content_type // '') eq 'application/jose+json';
        if ($prot) {
            push @bad, 'alg' unless ($prot->{alg} // '') eq 'ES256';
            push @bad, 'url' unless ($prot->{url} // '') eq "$base$path";
            push @bad, 'nonce' unless delete $nonce{$prot->{nonce} // ''};
            if ($path eq '/acct') {
                push @bad, 'jwk' unless ref $prot->{jwk} eq 'HASH' && !exists $prot->{kid};
            } else {
                push @bad, 'kid' unless ($prot->{kid} // '') eq "$base/acct/1" && !exists $prot->{jwk};
            }
            push @bad, 'signature' unless ($jws->{signature} // '') =~ /^[A-Za-z0-9_-]{86}$/;
        }
        $rec->{nonce} = $prot->{nonce} if $prot;
        $rec->{payload} = $payload;
        if (@bad && !grep { $_ eq 'nonce' } @bad) {
            $rec->{bad} = join ',', @bad;
        }
        return $problem->($c, $rec, 400, 'badNonce', 'that nonce is not ours') if grep { $_ eq 'nonce' } @bad;
        return $problem->($c, $rec, 400, 'malformed', "bad request: $rec->{bad}") if $rec->{bad};

        if ($path eq '/acct') {
            return $reply->($c, $rec, 201, { status => 'valid' }, Location => "$base/acct/1");
        }
        if ($path eq '/new-order') {
            my $host = $payload->{identifiers}[0]{value} // '';
            $rec->{host} = $host;
            my $script = $ctl->{order}{$host} // [];
            my $r = $script->[$used{$host}++];
            if ($payload->{replaces} && $ctl->{refuse_replaces}{$host}) {
                return $problem->($c, $rec, 409, 'alreadyReplaced',
                                  "the certificate $payload->{replaces} was replaced already");
            }
            if ($r) {
                if ($r->{big}) {
                    return $reply->($c, $rec, 201, '{"status":"pending","x":"' . ('x' x (10 << 20)) . '"}',
                                    Location => "$base/order/$host");
                }
                return $reply->($c, $rec, 201, '{"status": "pending", "authorizations": [',
                                Location => "$base/order/$host") if $r->{garbage};
                if ($r->{status} >= 500 && !$r->{type}) {
                    return $reply->($c, $rec, $r->{status}, 'Service Unavailable',
                                    'Content-Type' => 'text/plain');
                }
                my $ra = $r->{retry_after};
                $ra = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time + $r->{retry_at}))
                    if $r->{retry_at};
                return $problem->($c, $rec, $r->{status}, $r->{type}, $r->{detail} // 'no',
                                  ($ra ? ('Retry-After' => $ra) : ()));
            }
            $order{$host} = { authz => 'pending' };
            # a Location of raw bytes: a control character, no UTF-8
            return $reply->($c, $rec, 201, $order_json->($host), Location => "$base/order/$host\x01\xff")
                if $ctl->{bad_location}{$host};
            return $reply->($c, $rec, 201, $order_json->($host), Location => "$base/order/$host");
        }
        my ($what, $host) = $path =~ m{^/(authz|chal|order|finalize|cert)/([^/]+)};
        $rec->{host} = $host;
        my $o = $host && $order{$host};
        return $problem->($c, $rec, 404, 'malformed', 'no such thing') unless $o;
        if ($what eq 'authz') {
            my $a = { status => $o->{authz}, identifier => { type => 'dns', value => $host },
                      challenges => [{ type => 'http-01', url => "$base/chal/$host",
                                       token => ($o->{token} //= encode_base64url(join '', map { chr int rand 256 } 1 .. 32)),
                                       status => $o->{authz} eq 'pending' ? ($o->{chal} ? 'processing' : 'pending')
                                                                          : $o->{authz},
                                       ($o->{error} ? (error => $o->{error}) : ()) }] };
            return $reply->($c, $rec, 200, $a);
        }
        if ($what eq 'chal') {
            $o->{chal} = 1;
            if (my $e = $ctl->{authz}{$host}) {
                $o->{authz} = 'invalid';
                $o->{error} = { type => "urn:ietf:params:acme:error:$e->{type}", detail => $e->{detail},
                                status => 403 };
            } else {
                $o->{authz} = 'valid';
            }
            return $reply->($c, $rec, 200, { type => 'http-01', url => "$base/chal/$host",
                                             token => $o->{token}, status => 'processing' });
        }
        # a held order stays "processing" after finalize until let go
        my $sign = sub {
            my $n = ++$serial;
            spew("$fd/$host.csr.der", $o->{csr});
            spew("$fd/$host.ext", "subjectAltName=DNS:$host\nauthorityKeyIdentifier=keyid\n"
                                  . "basicConstraints=CA:FALSE\n");
            system("openssl x509 -req -inform DER -in $fd/$host.csr.der -CA $fd/ca.crt -CAkey $fd/ca.key "
                   . "-set_serial $n -days 20 -extfile $fd/$host.ext -out $fd/$host.$n.pem 2>/dev/null") == 0
                or return;
            $o->{cert} = $n;
            delete $o->{processing};
            return 1;
        };
        if (my $st = $ctl->{stuck}{$host}) {
            # the order answered with this status (authorizations valid)
            $o->{authz} = 'valid' if $what eq 'order' || $what eq 'finalize';
            if ($what eq 'finalize') {
                # signed once let go
                $o->{csr} = decode_base64url($payload->{csr} // '');
                $o->{processing} = 1;
            }
            return $reply->($c, $rec, 200, { %{ $order_json->($host) }, status => $st })
                if $what eq 'order' || $what eq 'finalize';
        }
        if ($what eq 'order') {
            $sign->() if $o->{processing} && !$ctl->{hold}{$host};
            return $reply->($c, $rec, 200, $order_json->($host));
        }
        if ($what eq 'finalize') {
            return $problem->($c, $rec, 403, 'orderNotReady', 'not ready') unless $o->{authz} eq 'valid';
            $o->{csr} = decode_base64url($payload->{csr} // '');
            $o->{processing} = 1;
            $sign->() or return $problem->($c, $rec, 400, 'badCSR', 'cannot sign that')
                unless $ctl->{hold}{$host};
            return $reply->($c, $rec, 200, $order_json->($host));
        }
        if ($what eq 'cert') {
            my $pem = slurp("$fd/$host.$o->{cert}.pem") . slurp("$fd/ca.crt");
            return $reply->($c, $rec, 200, $pem, 'Content-Type' => 'application/pem-certificate-chain');
        }
    });
    Mojo::Server::Daemon->new(app => $app, silent => 1, listen => [$base])->run;
    exit 0;
}
END { if ($pid) { kill 'TERM', $pid; waitpid $pid, 0 } }

wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 10) or die 'the fake CA is not up';

sub control { spew("$fd/control.json", encode_json($_[0])) }
sub ca_log { [map { decode_json($_) } grep { length } split /\n/, slurp("$fd/log.jsonl")] }
sub orders_of { my ($h) = @_; [grep { $_->{path} eq '/new-order' && ($_->{host} // '') eq $h } @{ ca_log() }] }

my $http = "helpdesk_base_domain portal.test;
    helpdesk_tls_store zone=helpdesk_tls:1m dir=$d/tlsstore sync=300ms cache=100;
    helpdesk_acme directory=$base/dir contact=ops\@provider.test
                  interval=300ms concurrency=4 name_failures=50/1h;";
# one tenant orders some twenty names here: past the per-tenant cap of
# new orders per hour (tested in t/sql/acme.sql), lifted for this run
$t->psql("ALTER DATABASE helpdesk SET helpdesk.acme_tenant_orders_per_hour = 1000");
$t->start_nginx(http => $http);

my $tenant = $t->create_tenant('stubco');
my %ctl;

sub add_domain {
    my ($host) = @_;
    my $tx = $t->ua->post($t->url('/v1/domains') => $t->auth($tenant->{key}) => json => { hostname => $host });
    is $tx->res->code, 201, "$host added" or diag $tx->res->body;
    $t->psql("SELECT tls.domain_set('$tenant->{id}', '$host', 'verified', NULL)");
}

sub status { $t->psql("SELECT status || ' ' || coalesce(reason, '') FROM helpdesk.portal_domains WHERE hostname = '$_[0]'") }
sub order_row { $t->psql("SELECT step || ' ' || attempts || ' ' || coalesce(last_problem->>'type', '-') FROM helpdesk.acme_orders WHERE hostname = '$_[0]'") }

# --- issued; its ARI certID asked ---------------------------------------
$ctl{ari} = { start => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 10 * 86400)),
              end => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 11 * 86400)),
              retry_after => 3600 };
control(\%ctl);
add_domain('ok.stub.test');
ok wait_for(sub { status('ok.stub.test') =~ /^active/ }, 30), 'issued by the fake CA: active'
    or diag status('ok.stub.test'), ' / ', order_row('ok.stub.test');

my $cid = $t->psql("SELECT ari_cert_id FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test' AND generation = 1");
my ($leaf) = glob("$fd/ok.stub.test.*.pem");
my $x = sh("openssl x509 -in $leaf -noout -serial -ext authorityKeyIdentifier");
my ($ser) = $x =~ /serial=([0-9A-F]+)/;
my ($aki) = $x =~ /Authority Key Identifier:\s*(?:keyid:)?([0-9A-F:]+)/;
$aki =~ s/://g;
$ser = "0$ser" if length($ser) % 2;
is $cid, encode_base64url(pack('H*', $aki)) . '.' . encode_base64url(pack('H*', $ser)),
   'the certificate is stored with its ARI certID (AKI key id . serial)';
ok wait_for(sub { grep { $_->{path} eq "/ari/$cid" } @{ ca_log() } }, 10), 'its renewal information is asked';
ok wait_for(sub { $t->psql("SELECT renew_after BETWEEN now() + interval '10 days' - interval '1 minute'
                                                AND now() + interval '11 days'
                                   AND ari_next_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes'
                            FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test'") eq 't' }, 10),
   'renew_after inside the suggested window; asked again after Retry-After (1 hour)';
is scalar(grep { $_->{bad} } @{ ca_log() }), 0, 'every POST had a well-formed protected header (alg, nonce, url, kid/jwk)';
ok scalar(grep { $_->{path} eq '/acct' } @{ ca_log() }) >= 1, 'newAccount was asked with the jwk';

# the CA suggests a window in the past for the live certificate (asked
# now); once it was taken, later ones are far ahead again (the renewed
# certificate is asked about at once)
sub past_window {
    my ($gen) = @_;
    $ctl{ari} = { start => '2000-01-01T00:00:00Z', end => '2000-01-02T00:00:00Z' };
    control(\%ctl);
    $t->psql("UPDATE helpdesk.portal_domains SET checked_at = now() WHERE hostname = 'ok.stub.test'");
    $t->psql("UPDATE helpdesk.tls_certificates SET ari_next_at = now() WHERE hostname = 'ok.stub.test' AND generation = $gen");
    my $ok = wait_for(sub { $t->psql("SELECT renew_after <= now() FROM helpdesk.tls_certificates
                                      WHERE hostname = 'ok.stub.test' AND generation = $gen") eq 't' }, 10);
    $ctl{ari} = { start => '2099-01-01T00:00:00Z', end => '2099-01-02T00:00:00Z' };
    control(\%ctl);
    return $ok;
}

# --- ARI: a window in the past: renewal with replaces, no token ----------
$t->psql("UPDATE helpdesk_meta.acme_limits SET tokens = 0.2, updated_at = now()");
ok past_window(1), 'a suggested window in the past: renewal due now';
ok wait_for(sub { $t->psql("SELECT max(generation) FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test'") eq '2' }, 30),
   'a suggested window in the past: renewed at once' or diag order_row('ok.stub.test');
my @o = @{ orders_of('ok.stub.test') };
is $o[-1]{payload}{replaces}, $cid, 'the renewal named the certificate in replaces';
ok $t->psql("SELECT tokens < 1 FROM helpdesk_meta.acme_limits") eq 't',
   'with an empty new-order bucket: ARI renewals spend no token';
unlike $t->error_log, qr/order for ok\.stub\.test waits/, 'and never waited for one';
my $cid2 = $t->psql("SELECT ari_cert_id FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test' AND generation = 2");
ok $cid2 && $cid2 ne $cid, 'the new certificate has its own certID';
$t->psql("UPDATE helpdesk_meta.acme_limits SET tokens = 50, updated_at = now()");

# --- a replacement the CA refuses: ordered again without replaces --------
$ctl{refuse_replaces}{'ok.stub.test'} = 1;
ok past_window(2), 'the renewed certificate\'s window in the past too';
ok wait_for(sub { $t->psql("SELECT max(generation) FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test'") eq '3' }, 30),
   'a refused replacement: renewed anyway' or diag order_row('ok.stub.test');
@o = @{ orders_of('ok.stub.test') };
is_deeply [map { $_->{payload}{replaces} // '-' } @o[-2, -1]], [$cid2, '-'],
   'first with replaces (409 alreadyReplaced), then once without it';
is_deeply [map { $_->{status} } @o[-2, -1]], [409, 201], 'as the CA answered';
is scalar(@o), 4, 'four newOrders for the name in all (issue, renewal, refused replacement, plain renewal)';

# --- 429 rateLimited, Retry-After in seconds -----------------------------
$ctl{order}{'rl.stub.test'} = [{ status => 429, type => 'rateLimited', detail => 'too many new orders',
                                 retry_after => 4 }];
control(\%ctl);
add_domain('rl.stub.test');
ok wait_for(sub { @{ orders_of('rl.stub.test') } >= 1 }, 15), 'rate limited: newOrder asked';
sleep 1.5;
like status('rl.stub.test'), qr/^issuing $/, 'the domain keeps its state while paused';
ok wait_for(sub { status('rl.stub.test') =~ /^active/ }, 20), 'issued after the pause';
my @rl = @{ orders_of('rl.stub.test') };
my ($t429) = map { $_->{at} } grep { $_->{status} == 429 } @rl;
my @after = grep { $_->{method} eq 'POST' && $_->{at} > $t429 } @{ ca_log() };
ok @after && $after[0]{at} - $t429 >= 3.9,
   sprintf('nothing posted to the CA before Retry-After (4 s) elapsed: next POST after %.1f s', @after ? $after[0]{at} - $t429 : -1);
is $t->psql("SELECT count(*) FROM helpdesk.acme_attempts WHERE hostname = 'rl.stub.test' AND outcome = 'rate_limited'"),
   1, 'recorded as rate limited';

# --- 429 with Retry-After as an HTTP-date --------------------------------
$ctl{order}{'date.stub.test'} = [{ status => 429, type => 'rateLimited', detail => 'slow down', retry_at => 6 }];
control(\%ctl);
add_domain('date.stub.test');
ok wait_for(sub { status('date.stub.test') =~ /^active/ }, 25), 'Retry-After as an HTTP-date: issued after it';
my @dt = @{ orders_of('date.stub.test') };
my ($tdate) = map { $_->{at} } grep { $_->{status} == 429 } @dt;
@after = grep { $_->{method} eq 'POST' && $_->{at} > $tdate } @{ ca_log() };
ok @after && $after[0]{at} - $tdate >= 4.5,
   sprintf('nothing posted before the date (6 s ahead, whole seconds): next POST after %.1f s', @after ? $after[0]{at} - $tdate : -1);

# --- badNonce past the client's retries -----------------------------------
# the fake refuses every nonce of this name's next four newOrders
$ctl{order}{'bn.stub.test'} = [map { { status => 400, type => 'badNonce', detail => 'stale nonce' } } 1 .. 4];
control(\%ctl);
add_domain('bn.stub.test');
ok wait_for(sub { status('bn.stub.test') =~ /^active/ }, 30), 'badNonce four times in a row: issued later'
    or diag order_row('bn.stub.test');
my @bn = @{ orders_of('bn.stub.test') };
is_deeply [map { $_->{status} } @bn[0 .. 4]], [400, 400, 400, 400, 201],
   'the first try and its three retries refused, the next order taken';
ok $bn[4]{at} - $bn[3]{at} >= 4.5, sprintf('past the retries: the order waited (%.1f s)', $bn[4]{at} - $bn[3]{at});
is_deeply [map { $bn[$_]{nonce} } 1 .. 3], [map { $bn[$_]{sent_nonce} } 0 .. 2],
   'each retry used the nonce of the refusal before it';
is $t->psql("SELECT count(*) FROM helpdesk.acme_attempts WHERE hostname = 'bn.stub.test' AND problem_type ~ 'badNonce'"),
   1, 'recorded once as badNonce';

# --- problem types to the domain's state ---------------------------------
my %want = (unauthorized => 'dns_broken', connection => 'dns_broken', dns => 'dns_broken',
            caa => 'dns_broken');
for my $type (sort keys %want) {
    $ctl{authz}{"$type.stub.test"} = { type => $type, detail => "the CA says $type for $type.stub.test" };
}
$ctl{order}{'rej.stub.test'} = [{ status => 400, type => 'rejectedIdentifier', detail => 'policy forbids rej.stub.test' }];
control(\%ctl);
add_domain("$_.stub.test") for sort keys %want;
add_domain('rej.stub.test');
for my $type (sort keys %want) {
    ok wait_for(sub { status("$type.stub.test") =~ /^dns_broken/ }, 20), "$type: dns_broken";
    is status("$type.stub.test"), "dns_broken the CA says $type for $type.stub.test", "$type: with the CA's detail as the reason";
}
ok wait_for(sub { status('rej.stub.test') =~ /^failed/ }, 20), 'rejectedIdentifier: failed';
is status('rej.stub.test'), 'failed policy forbids rej.stub.test', 'with the CA\'s detail';

# --- 5xx: a backoff only -------------------------------------------------
$ctl{order}{'five.stub.test'} = [{ status => 503 }];
control(\%ctl);
add_domain('five.stub.test');
ok wait_for(sub { order_row('five.stub.test') =~ /^ordered 1 / }, 15), '503: the order backs off'
    or diag order_row('five.stub.test');
is status('five.stub.test'), 'issuing ', 'the domain keeps its state';
ok $t->psql("SELECT due_at > now() + interval '50 seconds' FROM helpdesk.acme_orders WHERE hostname = 'five.stub.test'") eq 't',
   'due again after the first backoff step (1 minute)';
is $t->psql("SELECT last_problem->>'status' FROM helpdesk.acme_orders WHERE hostname = 'five.stub.test'"), '503',
   'the answer recorded';

# --- hostile answers: 10 MB, garbage JSON --------------------------------
$ctl{order}{'big.stub.test'} = [{ status => 201, big => 1 }];
$ctl{order}{'junk.stub.test'} = [{ status => 201, garbage => 1 }];
control(\%ctl);
add_domain('big.stub.test');
add_domain('junk.stub.test');
ok wait_for(sub { order_row('big.stub.test') =~ /^ordered 1 / }, 20), 'a 10 MB answer: the order fails and backs off'
    or diag order_row('big.stub.test');
like $t->psql("SELECT last_problem->>'detail' FROM helpdesk.acme_orders WHERE hostname = 'big.stub.test'"),
     qr/too large/, 'as too large';
ok wait_for(sub { order_row('junk.stub.test') =~ /^ordered 1 / }, 20), 'garbage JSON: the order fails and backs off'
    or diag order_row('junk.stub.test');
like $t->psql("SELECT last_problem->>'detail' FROM helpdesk.acme_orders WHERE hostname = 'junk.stub.test'"),
     qr/not a JSON object/, 'as no JSON';
is status('big.stub.test') . '|' . status('junk.stub.test'), 'issuing |issuing ', 'both keep their state';
my $tx = $t->ua->get($t->url('/v1/domains') => $t->auth($tenant->{key}));
is $tx->res->code, 200, 'nginx still answers';

# --- a CA that never moves on, or hands out a URL of raw bytes ----------
# each is bounded: a failure recorded (or polls that wait), never a loop of
# requests
$ctl{bad_location}{'loc.stub.test'} = 1;
$ctl{stuck}{'pend.stub.test'} = 'pending';
$ctl{stuck}{'ready.stub.test'} = 'ready';
control(\%ctl);
add_domain($_) for qw(loc.stub.test pend.stub.test ready.stub.test);
ok wait_for(sub { order_row('loc.stub.test') =~ /^ordered 1 / }, 20),
   'a Location header of raw bytes: the order fails and backs off' or diag order_row('loc.stub.test');
like $t->psql("SELECT last_problem->>'detail' FROM helpdesk.acme_orders WHERE hostname = 'loc.stub.test'"),
     qr/malformed/, 'as a malformed new order';
ok wait_for(sub { order_row('pend.stub.test') =~ / 1 / }, 20),
   'an order pending while its authorizations are valid: a failure recorded' or diag order_row('pend.stub.test');
like $t->psql("SELECT last_problem->>'detail' FROM helpdesk.acme_orders WHERE hostname = 'pend.stub.test'"),
     qr/stays pending/, 'as an order that stays pending';
cmp_ok scalar(grep { $_->{path} eq '/order/pend.stub.test' } @{ ca_log() }), '<=', 6,
       'the pending order read a few times, not in a loop';
sleep 5;
my $fin = grep { $_->{path} eq '/finalize/ready.stub.test' } @{ ca_log() };
my $reads = grep { $_->{path} eq '/order/ready.stub.test' } @{ ca_log() };
is $fin, 1, 'an order still "ready" after its CSR: the CSR posted once';
cmp_ok $reads, '<=', 10, "the order polled with waits ($reads reads in some 5 s)";
delete $ctl{stuck};
delete $ctl{bad_location};
control(\%ctl);
ok wait_for(sub { status('ready.stub.test') =~ /^active/ }, 45),
   'let go, the polled order is issued' or diag order_row('ready.stub.test');

# --- an order whose stored authorization URLs do not read back ----------
# (a NULL in the text[] column: JSON null, no string): recorded as a
# failure, the order made again from the start, never a URL of garbage
$t->psql("BEGIN;
          INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status)
          VALUES ('$tenant->{id}', 'stored.stub.test', 'issuing');
          INSERT INTO helpdesk.acme_orders (tenant_id, hostname, kind, step, account_id,
                                            order_url, authz_urls, finalize_url)
          SELECT '$tenant->{id}', 'stored.stub.test', 'issue', 'authorizing', account_id,
                 '$base/order/stored.stub.test', ARRAY['$base/authz/stored.stub.test', NULL],
                 '$base/finalize/stored.stub.test'
          FROM helpdesk_meta.acme_accounts;
          COMMIT;");
ok wait_for(sub { $t->psql("SELECT count(*) FROM helpdesk.acme_attempts WHERE hostname = 'stored.stub.test'") > 0 }, 15),
   'stored authorization URLs that are no strings: a failure recorded'
    or diag order_row('stored.stub.test');
is $t->psql("SELECT outcome || ' ' || detail FROM helpdesk.acme_attempts
             WHERE hostname = 'stored.stub.test' ORDER BY at LIMIT 1"),
   "error the stored order's authorization URLs do not read back", 'with what was wrong';
ok wait_for(sub { status('stored.stub.test') =~ /^active/ }, 30),
   'the order made again from the start: issued' or diag order_row('stored.stub.test');
unlike $t->error_log, qr/exited on signal/, 'no worker crashed';

# --- ARI answers that are no window: the certificate keeps its date ------
my $before = $t->psql("SELECT renew_after FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test' AND generation = 3");
$ctl{ari} = { body => '{"suggestedWindow": "soon"' , retry_after => 120 };
control(\%ctl);
$t->psql("UPDATE helpdesk.tls_certificates SET ari_next_at = now() WHERE hostname = 'ok.stub.test'");
ok wait_for(sub { $t->psql("SELECT ari_next_at > now() + interval '100 seconds' FROM helpdesk.tls_certificates
                            WHERE hostname = 'ok.stub.test' AND generation = 3") eq 't' }, 10),
   'garbage renewal information: asked again after Retry-After';
is $t->psql("SELECT renew_after FROM helpdesk.tls_certificates WHERE hostname = 'ok.stub.test' AND generation = 3"),
   $before, 'renew_after unchanged';

# --- key rotation: the account key and an order's key re-sealed ---------
# an order held at the CA after finalize: its certificate key sealed in
# its row under t1
$ctl{hold}{'hold.stub.test'} = 1;
control(\%ctl);
add_domain('hold.stub.test');
ok wait_for(sub { $t->psql("SELECT step || ' ' || split_part(key_sealed, ':', 2) FROM helpdesk.acme_orders
                            WHERE hostname = 'hold.stub.test'") eq 'finalizing t1' }, 20),
   'an order waits at the CA, its certificate key sealed under t1 in its row';
is $t->psql("SELECT split_part(key_sealed, ':', 2) FROM helpdesk_meta.acme_accounts"), 't1',
   'the account key is sealed under t1';
is $t->psql("SELECT string_agg(field || ' ' || place, ',' ORDER BY field) FROM outbox.secrets_all()
             WHERE field LIKE 'acme%'"),
   'acme_accounts.key acme_accounts.key:' . $t->psql("SELECT account_id FROM helpdesk_meta.acme_accounts")
   . ',acme_orders.key tls_key:hold.stub.test',
   'both are listed for rotation, with the places the module seals them to';

sub keyfile { slurp("$d/secret.keys") }
my ($k1) = split /\n/, keyfile();
$t->secret_keys($t->new_secret_key('t2'), $k1);
my @old = $t->worker_pids;
kill 'HUP', $t->nginx_pid;
ok wait_for(sub { my @p = $t->worker_pids; @p == 2 && !grep { my $x = $_; grep { $_ == $x } @old } @p }, 15),
   'reloaded with t2 first in the key file';
my $rot = `$FindBin::Bin/../src/tools/rotate-secrets.sh @{[$t->url('')]} $d/provider.key t2 60 2>&1`;
is $?, 0, 'the rotation sees every secret under t2' or diag $rot;
is $t->psql("SELECT split_part(key_sealed, ':', 2) FROM helpdesk_meta.acme_accounts") . ' '
   . $t->psql("SELECT split_part(key_sealed, ':', 2) FROM helpdesk.acme_orders WHERE hostname = 'hold.stub.test'"),
   't2 t2', 'the account key and the order\'s key are re-sealed under t2';

# t1 out of the file, nginx restarted: both must open under t2
my ($k2) = grep { /^t2 / } split /\n/, keyfile();
$t->secret_keys($k2);
my $accounts = grep { $_->{path} eq '/acct' } @{ ca_log() };
$t->stop_nginx;
$t->start_nginx(http => $http);
delete $ctl{hold};
control(\%ctl);
$t->psql("UPDATE helpdesk.acme_orders SET lease_until = now() - interval '1 second', due_at = now()
          WHERE hostname = 'hold.stub.test'");
ok wait_for(sub { status('hold.stub.test') =~ /^active/ }, 30),
   't1 gone: the held order resumes, its re-sealed key opens and matches the certificate'
    or diag order_row('hold.stub.test');
add_domain('after.stub.test');
ok wait_for(sub { status('after.stub.test') =~ /^active/ }, 30),
   'a later order is signed with the re-sealed account key' or diag order_row('after.stub.test');
is scalar(grep { $_->{path} eq '/acct' } @{ ca_log() }), $accounts, 'the same account (no newAccount after the restart)';
unlike $t->error_log, qr/does not open|does not decrypt/, 'every ACME key opens with t2 alone';

is scalar(grep { $_->{bad} } @{ ca_log() }), 0, 'no malformed protected header in the whole run';

$t->done;
