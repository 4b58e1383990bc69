package Helpdesk::OAuth;

# A fake OAuth 2.0 provider for a test (src/tools/oauth-fake.py) on a
# free loopback port: a consent page that sends the browser back with a
# code, a token endpoint for the authorization_code and refresh_token
# grants (client, redirect URI and PKCE checked; calls counted; able to
# answer invalid_grant, 500 or something that is not JSON), and the
# introspection endpoint Dovecot's oauth2 passdb asks.
#
#   my $op = Helpdesk::OAuth->new($t, client_id => 'cid', client_secret => 's');
#   $op->url('/token'); $op->stats->{counts}{refresh_token};
#   $op->control(token_mode => 'invalid_grant');

use strict;
use warnings;

use File::Path qw(make_path);
use Mojo::UserAgent;
use Helpdesk::Test qw(until_true);

my $PYTHON = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub new {
    my ($class, $t, %opt) = @_;
    my $dir = $t->dir . '/oauth';
    make_path($dir);
    my $self = bless { dir => $dir, port => Helpdesk::Test::free_port(), opt => \%opt,
                       ua => Mojo::UserAgent->new(max_redirects => 0) }, $class;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir/oauth.log";
        open STDERR, '>&', \*STDOUT;
        exec $PYTHON, "$Helpdesk::Test::TOP/src/tools/oauth-fake.py", '--port', $self->{port},
            '--client-id', $opt{client_id}, '--client-secret', $opt{client_secret};
        exit 127;
    }
    $self->{pid} = $pid;
    until_true(sub { open my $fh, '<', "$dir/oauth.log" or return 0; local $/; (<$fh> // '') =~ /ready/ }, 10)
        or die 'the fake OAuth provider did not start: ' . `cat $dir/oauth.log`;
    return $self;
}

sub url { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '') }
sub ua { $_[0]{ua} }
sub stats { $_[0]{ua}->get($_[0]->url('/stats'))->res->json }
sub control { my ($self, %c) = @_; $self->{ua}->post($self->url('/control') => json => \%c)->res->json }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    local $?;
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

1;
