from django.contrib import admin

from .models import Membership, Message, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["user", "role", "joined_at"]
    readonly_fields = ["joined_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_by", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    readonly_fields = ["created_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "author", "created_at", "short_body"]
    list_filter = ["room"]
    search_fields = ["room__slug", "author__username", "body"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["author"]
    date_hierarchy = "created_at"

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return message.body[:80]
