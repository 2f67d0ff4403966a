from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user, in place from the first migration so it can grow without pain.

    https://docs.djangoproject.com/en/5.2/topics/auth/customizing/#using-a-custom-user-model-when-starting-a-project
    """
