/**
 * The one catalogue of reasons: every BerthError's `reason` and every status condition's
 * `reason` is a key of REASONS, so a program (the CLI's exit codes, the API's status codes, a
 * dashboard, an alert rule) can switch on them and they cannot drift apart in spelling.
 * Adding a reason is one line here, with what it means.
 */
export const REASONS = {
  // Reconciling a stack: what its conditions say.
  Progressing: 'a deployment of the stack is under way',
  ReconciliationSucceeded: 'the stack runs the desired version, healthy',
  DeployFailed: 'a deployment step failed (Docker refused, a file was missing, ...)',
  HealthCheckFailed: 'the new version did not become healthy within its health timeout',
  PreDeployHookFailed: 'the pre-deploy hook failed or timed out; nothing was replaced',
  MigrationFailed: 'a migration job exited non-zero (or could not run); the deploy was aborted',
  MigrationTimedOut: 'a migration job ran past its timeout and was killed; the deploy was aborted',
  RolledBack: 'the new version failed; the good version was brought back',
  VersionMarkedBad: 'the desired version is marked bad and is not deployed again',
  ValidationFailed: 'the stack folder or its deploy settings are invalid',
  Suspended: 'reconciling the stack is suspended',
  Resumed: 'reconciling the stack was resumed',
  Pruned: 'the stack folder left the repository and the stack was removed',
  BroughtDown: 'the stack was brought down on request (and suspended)',
  SourceUnavailable: 'the source could not be synced; the last fetched revision is kept',
  DeploymentInterrupted: 'berth stopped while a deployment ran; recovery resolved it',
  RecoveredAfterInterruption: 'after an interruption the stack runs healthy',
  RepairLimitReached: 'drift was repaired too often within the window; left alone',
  Unhealthy: 'a container of the stack turned unhealthy at run time',
  ReconcileFailed: 'reconciling the stack failed unexpectedly; retried later',

  // Operations asked for by a person or a program.
  StackNotFound: 'no stack of that name is known',
  VersionNotFound: 'the version is not in the stack’s deployment history',
  VersionAmbiguous: 'a version prefix matches more than one version of the stack',
  VersionPrefixInvalid: 'a version prefix is not at least 7 hex digits',
  VersionFilesUnavailable: 'the files of that version are no longer kept',
  NoGoodVersion: 'the stack has no good version to go back to',
  DownFailed: 'bringing the stack down failed',
  PruneFailed: 'removing a stack that left the repository failed',
  UsageInvalid: 'the command line is wrong',
  InvalidRequest: 'an API or control request is malformed',
  InvalidPayload: 'a webhook payload is malformed',
  PayloadTooLarge: 'a request body is too large',
  Unauthorized: 'missing or invalid credentials',
  WebhookDisabled: 'the webhook is not configured',
  ShuttingDown: 'berth is shutting down and takes no new work',
  NotStarted: 'the daemon is not running',
  DataDirLocked: 'another berth process holds the data directory',
  DataDirLockFailed: 'the data directory’s lock file cannot be used',
  ControlUnavailable: 'the daemon holds the data directory but its control socket does not answer',
  InternalError: 'an unexpected error',

  // Configuration, stack folders and compose files.
  ConfigInvalid: 'the berth configuration is invalid',
  SettingsInvalid: 'a stack’s deploy settings are invalid',
  SettingsEncrypted:
    'a stack’s deploy settings are in an encrypted file; they must be readable without keys',
  MethodUnavailable: 'the deploy method is not one berth has',
  InvalidStackName: 'a name that cannot name a stack',
  DuplicateStackName: 'two stack folders (of one source or of two) have the same stack name',
  StackUnreadable: 'a stack folder cannot be read',
  SymlinkEscapesStack: 'a link in a stack folder points outside the stack folder',
  StackFolderIsLink: 'a stack folder is a symbolic link, or resolves outside the source',
  PathEscapesStack: 'a file the compose project names lies outside the stack folder',
  FileTooLarge: 'a compose, env or deploy settings file is larger than berth reads',
  ComposeInvalid: 'the compose project is invalid',
  PolicyViolation: 'the compose project asks for something berth’s policy does not allow',
  ComposeFileNotFound: 'no compose file in the folder',
  ComposeFileUnreadable: 'a compose file cannot be read',
  ComposeUnreadable: 'a file the compose project names cannot be read',
  ComposeYamlInvalid: 'a compose file is not valid YAML',
  ComposeFieldInvalid: 'a compose field has an invalid value',
  ComposeFieldUnsupported: 'a compose field berth does not support',
  ComposeInterpolation: 'a variable in a compose file cannot be interpolated',
  ComposeEnvFileInvalid: 'an env file is invalid',
  ComposeExtendsInvalid: 'an extends reference is invalid',
  ComposeIncludeInvalid: 'an include is invalid',
  ComposeIncludeConflict: 'an include defines something twice',
  ComposeProjectNameInvalid: 'the compose project name is invalid',
  DependencyCycle: 'services depend on each other in a cycle',
  DependencyMissing: 'a service depends on a service that does not exist',
  ServiceUnknown: 'a service name that the project does not have',
  UndeclaredNetwork: 'a service uses a network the project does not declare',
  UndeclaredSecret: 'a service uses a secret the project does not declare',
  UndeclaredConfig: 'a service uses a config the project does not declare',
  SecretKeyMissing: 'no configured age identity opens an encrypted file of the stack',
  SecretTampered: 'an encrypted file fails its integrity check (MAC or GCM tag)',
  SecretInvalid: 'an encrypted file is malformed',

  // The source.
  SourceMissing: 'the local source folder does not exist',
  InvalidSource: 'the source settings are contradictory',
  AuthFailed: 'the git remote refused the credentials or the host key',
  RefNotFound: 'the branch or tag is not on the remote',
  NoMatchingTag: 'no tag on the remote matches the tag pattern',
  FetchFailed: 'git could not fetch (network, remote down)',
  CheckoutFailed: 'git could not update the checkout',
  Aborted: 'the operation was cancelled',

  // Docker.
  DockerUnavailable: 'the Docker engine does not answer',
  UnsupportedByEngine: 'the Docker engine is too old for a field',
  ListFailed: 'Docker could not list containers',
  InspectFailed: 'Docker could not inspect an object',
  ImageUnavailable: 'an image is neither present nor pullable',
  ImageBuildFailed: 'an image build failed',
  RegistryAuthFailed:
    'a registry refused the credentials for an image (or wanted some): see berth’s registries and the Docker config',
  NetworkCreateFailed: 'a network could not be created',
  NetworkUpdateFailed: 'a container could not be moved between networks',
  NetworkFailed: 'a network operation failed',
  NetworkMissing: 'an external network does not exist',
  VolumeCreateFailed: 'a volume could not be created',
  VolumeFailed: 'a volume operation failed',
  VolumeMissing: 'an external volume does not exist',
  ContainerCreateFailed: 'a container could not be created',
  ContainerStartFailed: 'a container could not be started',
  ContainerStopFailed: 'a container could not be stopped',
  ContainerRemoveFailed: 'a container could not be removed',
  ContainerRenameFailed: 'a container could not be renamed',
  ContainerRestartFailed: 'a container could not be restarted',
  ContainerGone: 'a container vanished while berth worked with it',
  RemoveFailed: 'removing a project’s objects failed',
  DependencyFailed: 'a dependency of a service failed',
  DependencyTimeout: 'a dependency of a service did not meet its condition in time',
  EventsUnavailable: 'Docker’s events stream cannot be followed',
  ReadOnlyFileInjection: 'a secret or config cannot be copied into a read-only container',
  PreviousMissing: 'the previous version’s files kept aside are missing',
  ProjectNotOwned: 'containers berth did not create hold the stack’s Compose project name',
  ResourceNotOwned: 'a network or volume berth would create exists and is not berth’s',
  PathNotOnMount:
    'a file berth hands to Docker lies in berth’s container on no mount the Docker host can see',
  SelfDeployRefused:
    'the stack is the Compose project berth itself runs in; berth does not redeploy itself',

  // The data directory.
  StateOpenFailed: 'the state database cannot be opened',
  StateWriteFailed: 'the state database cannot be written',
  StateSchemaTooNew: 'the state database was written by a newer berth',
  StateSchemaOld: 'the state database needs a migration only a writer may run',
  StateReadOnly: 'a read-only view of the state was asked to write',
  NoState: 'the data directory holds no state yet',
  StackFolderFailed: 'running_stacks/ or good_stacks/ could not be changed',
  RunningMissing: 'the stack has no running_stacks folder',
  GoodMissing: 'the stack has no good_stacks folder',
  DeploymentNotFound: 'no deployment with that id',

  // Hooks and HTTP.
  ListenFailed: 'the HTTP listener could not bind',
} as const;

export type Reason = keyof typeof REASONS;

/** True when `text` names a reason of the catalogue (for data read back from JSON). */
export function isReason(text: string): text is Reason {
  return Object.hasOwn(REASONS, text);
}
